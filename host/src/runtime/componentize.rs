//! Turning a wasm32 core module built with wit-bindgen into a component,
//! in-process, with the `wit-component` crate.

/// Encodes `module` (a core module carrying wit-bindgen's component-type
/// custom sections) as a component. A module that already is a component
/// is returned unchanged.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, ComponentizeError> {
    if is_component(module) {
        return Ok(module.to_vec());
    }
    if !module.starts_with(b"\0asm") {
        return Err(ComponentizeError::NotWasm);
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|encoder| encoder.encode())
        .map_err(|e| ComponentizeError::Encode {
            message: format!("{e:#}"),
        })
}

/// Why a core module could not be made a component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentizeError {
    #[error("not a WebAssembly binary (no `\\0asm` header)")]
    NotWasm,
    /// `wit-component`'s error is an `anyhow::Error`; its whole chain is
    /// kept as text, as `{:#}` prints it.
    #[error("{message}")]
    Encode { message: String },
}

/// Components and core modules share the magic; the layer field differs.
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"\0asm") && bytes[6..8] == [1, 0]
}
