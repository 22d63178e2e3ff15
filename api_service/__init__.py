"""The Django project: REST api, admin and the control worker."""
