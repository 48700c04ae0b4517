//! A corrupted model file is refused with its checksum error, by the cache and the provider.

use llmbench_models::{Cache, ModelError, ModelSpec, smollm2_135m_instruct};
use llmbench_plugin_sdk::core::PluginContext;
use provider_local::{LocalProvider, Options};

#[test]
fn a_corrupted_copy_is_refused_with_its_checksum_error() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("corrupted.gguf");
    let mut bytes = std::fs::read(crate::model_path()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&copy, &bytes).unwrap();
    let expected = *smollm2_135m_instruct().sha256().unwrap();
    let spec = ModelSpec::Path {
        path: copy.clone(),
        sha256: Some(expected),
    };

    let err = Cache::new(dir.path().join("cache"))
        .ensure(&spec)
        .unwrap_err();
    let ModelError::ChecksumMismatch {
        path,
        expected: e,
        actual,
    } = &err
    else {
        panic!("expected a checksum mismatch, got {err}");
    };
    assert_eq!(path, &copy);
    assert_eq!(*e, expected);
    assert_ne!(*actual, expected);

    // The provider refuses it too (a relative path, resolved against the config directory).
    let options = Options::from_json(serde_json::json!({
        "model": { "path": "corrupted.gguf", "sha256": expected.to_string() }
    }))
    .unwrap();
    let context = PluginContext {
        config_dir: dir.path().to_owned(),
        ..PluginContext::default()
    };
    let message = LocalProvider::create(options, &context).unwrap_err();
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(message.contains(&copy.display().to_string()), "{message}");
    assert!(message.contains(&expected.to_string()), "{message}");
    assert!(message.contains(&actual.to_string()), "{message}");
    assert!(copy.exists(), "a file named by `path` is never removed");
}
