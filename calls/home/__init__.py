"""The operators' home page: the admin's first page, with the day's and week's calls, each
agent's state, the calls that need someone's attention, and the way to the help."""
