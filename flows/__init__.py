"""Prefect flows, tasks, deployments and work-pool registration: each task one call into ``app``.

Only this package imports Prefect. Import the flow modules explicitly: importing ``flows`` alone
imports nothing heavy.
"""
