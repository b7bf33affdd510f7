"""The MISF paper as a plug-in of the harness: its tables and published numbers, training and Fig. 7 commands."""
