"""Accounts: sign-up and sign-in, the caller's profile, their sign-in session, their provider keys."""
