"""What every service does the same way: settings, auth, errors, pagination, pools, bootstrap."""
