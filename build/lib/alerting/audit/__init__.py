"""The auditors' side: reviews, entry queries, bulletins and rankings, their rendering and exports."""
