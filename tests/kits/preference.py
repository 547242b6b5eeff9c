"""A short handbook that the preference and reasoning tests make their examples from."""

from __future__ import annotations

HANDBOOK = (
    "# Annual leave\n\n"
    "Annual leave is the paid time off that every employee accrues during the year. Full-time employees accrue "
    "25 days of annual leave per calendar year, and part-time employees accrue leave in proportion to their "
    "contracted hours.\n\n"
    "Employees must submit leave requests through the HR portal at least 14 days before the first day of "
    "absence. Managers should approve or reject a request within five working days.\n\n"
    "## Carry-over\n\n"
    "Unused leave can be carried over to the next year, up to a maximum of 5 days. Carried-over days expire on "
    "31 March and are not paid out. The carry-over rule does not apply to employees on probation.\n\n"
    "A leave balance refers to the number of days an employee can still take in the current year. It is shown "
    "on the payslip every month.\n"
)
SHORT_HANDBOOK = HANDBOOK.split("\n\nA leave balance")[0] + "\n"  # without the last paragraph
