//! pppd-format secrets (`pap-secrets`/`chap-secrets`) and credential checks.
