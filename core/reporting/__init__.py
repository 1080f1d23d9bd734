"""Figures for people: provider earnings, finance reports, periods, payment history, exports."""
