//! esxcli-style views.
