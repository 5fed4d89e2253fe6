"""Carrying out a reviewed plan: scheduling (`executor`), the exactly-once create (`create`), the other actions (`actions`), and following jobs in flight (`watch`)."""
