//! The web console under `/ui`: the settings page of the product mail-ingest re-creates,
//! rendered on the server from compiled templates (`templates/`), usable with scripts off;
//! htmx (vendored in `assets/`) only refreshes the Accounts report's states.

pub mod form;
