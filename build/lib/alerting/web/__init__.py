"""The people's side: HTML pages served by the service (sign-in, landing, admin), the acknowledgement
page behind a notification's link, and the offline API docs."""
