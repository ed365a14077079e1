"""Tests of twisted-chat (run with ``make test``; unit tests also run under ``trial tests``)."""
