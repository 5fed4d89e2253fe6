"""The plan: its model (frozen data, JSON), the pure planner that computes it, and saved plan files."""
