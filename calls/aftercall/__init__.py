"""What happens once a call is over: its summary and notes (analysis.py) and the end-of-call
webhook (webhook.py), run as tasks with retries by runner.py, in every server process."""
