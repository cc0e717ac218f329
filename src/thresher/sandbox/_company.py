"""Company, docs/harvest-api.md §7.6 (DOC-CO). ``GET`` answers every token ([U]: desktop apps call
it with ordinary tokens); ``PATCH`` is for administrators and changes only
``wants_timestamp_timers`` and ``weekly_capacity`` (other fields are ignored, as Rails ignores
unpermitted parameters)."""

from __future__ import annotations

from starlette.responses import Response

from ._http import INT32_MAX, Call, Form, json_response
from ._render import company_dict
from ._section import ApiSection, RouteSpec

__all__ = ["CompanyApi"]


class CompanyApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [("/v2/company", "GET", self.get_company), ("/v2/company", "PATCH", self.update_company)]

    def get_company(self, call: Call) -> Response:
        """``GET /v2/company``."""
        return json_response(company_dict(self.state))

    def update_company(self, call: Call) -> Response:
        """``PATCH /v2/company`` (administrators)."""
        self.require_admin(call)
        form = Form(call.body)
        timers = form.boolean("wants_timestamp_timers")
        capacity = form.integer("weekly_capacity", maximum=INT32_MAX)
        if capacity is not None and capacity < 0:
            form.error("Weekly capacity must be greater than or equal to 0")
        form.check()
        company = self.state.company
        if timers is not None:
            company.wants_timestamp_timers = timers
        if capacity is not None:
            company.weekly_capacity = capacity
        return json_response(company_dict(self.state))
