"""thresher: the whole lifecycle of Harvest (getharvest.com) users.

Parts: ``thresher.harvest`` (typed client), ``thresher.sandbox`` (a local Harvest),
``thresher.store`` (roster mirror), ``thresher.sync``, ``thresher.provision``, ``thresher.scim``
and ``thresher.cli``. See the README.
"""

from ._errors import ThresherError

__all__ = ["ThresherError", "__version__"]
__version__ = "0.1.0"
