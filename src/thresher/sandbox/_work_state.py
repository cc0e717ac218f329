"""The time entries and expenses of a ``SandboxState``: adding and removing them keeps the id
indexes and the list order (``spent_date``, then id) right without sorting on every request."""

from __future__ import annotations

import bisect

from ._records import Expense, TimeEntry

__all__ = ["WorkRecords"]


class WorkRecords:
    """Mixed into ``SandboxState``, which declares these fields (and documents them)."""

    time_entries: dict[int, list[TimeEntry]]
    expenses: dict[int, list[Expense]]
    time_entry_index: dict[int, TimeEntry]
    expense_index: dict[int, Expense]
    time_entry_keys: list[tuple[str, int]]
    time_entry_json: dict[int, bytes]

    def index_work(self) -> None:
        """Rebuild the time-entry and expense indexes from the per-user lists."""
        self.time_entry_index = {e.id: e for entries in self.time_entries.values() for e in entries}
        self.time_entry_keys = sorted((e.spent_date, e.id) for e in self.time_entry_index.values())
        self.expense_index = {e.id: e for entries in self.expenses.values() for e in entries}
        self.time_entry_json.clear()

    def add_time_entry(self, entry: TimeEntry) -> None:
        self.time_entries.setdefault(entry.user_id, []).append(entry)
        self.time_entry_index[entry.id] = entry
        bisect.insort(self.time_entry_keys, (entry.spent_date, entry.id))

    def remove_time_entry(self, entry: TimeEntry) -> None:
        self.time_entries[entry.user_id].remove(entry)
        del self.time_entry_index[entry.id]
        self._drop_key(entry)

    def set_spent_date(self, entry: TimeEntry, spent_date: str) -> None:
        self._drop_key(entry)
        entry.spent_date = spent_date
        bisect.insort(self.time_entry_keys, (spent_date, entry.id))

    def _drop_key(self, entry: TimeEntry) -> None:
        keys = self.time_entry_keys
        del keys[bisect.bisect_left(keys, (entry.spent_date, entry.id))]

    def add_expense(self, expense: Expense) -> None:
        self.expenses.setdefault(expense.user_id, []).append(expense)
        self.expense_index[expense.id] = expense

    def remove_expense(self, expense: Expense) -> None:
        self.expenses[expense.user_id].remove(expense)
        del self.expense_index[expense.id]
