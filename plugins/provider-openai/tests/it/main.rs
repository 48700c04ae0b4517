//! Integration tests: the built `provider-openai` cdylib, loaded through the plugin host, against
//! the in-repo protocol server.

mod conformance;
