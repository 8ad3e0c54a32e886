//! The JavaScript the consoles use, as typed Rust: noVNC's `RFB` client and xterm.js's
//! `Terminal` with its fit addon, loaded as ES modules from the paths `build_frontend` copies
//! them to.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(raw_module = "/novnc/core/rfb.js")]
extern "C" {
    /// noVNC's RFB client; it draws into a canvas it adds to `target`.
    #[wasm_bindgen(js_name = default, extends = web_sys::EventTarget)]
    pub type Rfb;

    /// `channel` is a websocket the page opened, so the page sees its close code and reason.
    #[wasm_bindgen(constructor, js_class = default, catch)]
    pub fn new(
        target: &web_sys::HtmlElement,
        channel: &web_sys::WebSocket,
        options: &JsValue,
    ) -> Result<Rfb, JsValue>;

    #[wasm_bindgen(method, setter = scaleViewport)]
    pub fn set_scale_viewport(this: &Rfb, scale: bool);

    #[wasm_bindgen(method, js_name = sendCtrlAltDel)]
    pub fn send_ctrl_alt_del(this: &Rfb);

    /// A key press (`down`) or release. `code` (e.g. `KeyA`) becomes a QEMU extended key
    /// event: a scancode, so the guest's own layout decides the character.
    #[wasm_bindgen(method, js_name = sendKey)]
    pub fn send_key(this: &Rfb, keysym: u32, code: &str, down: bool);

    #[wasm_bindgen(method)]
    pub fn disconnect(this: &Rfb);

    #[wasm_bindgen(method)]
    pub fn focus(this: &Rfb);
}

#[wasm_bindgen(raw_module = "/xterm/xterm.mjs")]
extern "C" {
    /// A handle on the JS object: cloning it is another reference to the same terminal.
    #[derive(Clone)]
    pub type Terminal;

    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Terminal;

    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);

    #[wasm_bindgen(method)]
    pub fn write(this: &Terminal, data: &js_sys::Uint8Array);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str(this: &Terminal, data: &str);

    /// What the user types or pastes, as the terminal would send it.
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, callback: &Closure<dyn FnMut(String)>);

    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &FitAddon);

    #[wasm_bindgen(method, js_name = getSelection)]
    pub fn get_selection(this: &Terminal) -> String;

    /// Sends `text` as if pasted (bracketed when the guest asked for it).
    #[wasm_bindgen(method)]
    pub fn paste(this: &Terminal, text: &str);

    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);

    /// Its size in characters, once fitted.
    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u32;

    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u32;
}

#[wasm_bindgen(raw_module = "/xterm/addon-fit.mjs")]
extern "C" {
    pub type FitAddon;

    #[wasm_bindgen(constructor)]
    pub fn new() -> FitAddon;

    /// Resizes the terminal to fill its element.
    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);
}
