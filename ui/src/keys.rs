//! Keys for the graphical console: text typed as keystrokes (for BIOS screens, installers and
//! login prompts that have no clipboard), and key combinations the browser would keep for
//! itself (Ctrl-Alt-Del, Ctrl-Alt-F1…).
//!
//! Keys are sent as US-layout physical keys (`code`) with their X keysym. With QEMU's
//! extended key events the guest receives scancodes, so a guest with another layout types
//! what that layout puts on those keys: type text into such guests with care.

/// A key: its X keysym and its `KeyboardEvent.code`.
pub type Key = (u32, &'static str);

pub const SHIFT: Key = (0xffe1, "ShiftLeft");
pub const CTRL: Key = (0xffe3, "ControlLeft");
pub const ALT: Key = (0xffe9, "AltLeft");
pub const SUPER: Key = (0xffeb, "MetaLeft");
pub const DELETE: Key = (0xffff, "Delete");
pub const BACKSPACE: Key = (0xff08, "Backspace");
pub const TAB: Key = (0xff09, "Tab");
pub const ENTER: Key = (0xff0d, "Enter");
pub const ESCAPE: Key = (0xff1b, "Escape");

/// Function key `n` (1–12).
pub fn f(n: u32) -> Key {
    const CODES: [&str; 12] = ["F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12"];
    (0xffbe + n - 1, CODES[(n - 1) as usize])
}

/// Combinations offered in the toolbar: (label, keys pressed in order, released in reverse).
pub fn combos() -> Vec<(&'static str, Vec<Key>)> {
    vec![
        ("Ctrl-Alt-Backspace", vec![CTRL, ALT, BACKSPACE]),
        ("Ctrl-Alt-F1", vec![CTRL, ALT, f(1)]),
        ("Ctrl-Alt-F2", vec![CTRL, ALT, f(2)]),
        ("Ctrl-Alt-F7", vec![CTRL, ALT, f(7)]),
        ("Alt-Tab", vec![ALT, TAB]),
        ("Alt-F4", vec![ALT, f(4)]),
        ("Super", vec![SUPER]),
        ("Escape", vec![ESCAPE]),
        ("Ctrl-Alt-Delete", vec![CTRL, ALT, DELETE]),
    ]
}

/// The key that types `c` on a US keyboard, and whether Shift is held for it; `None` for
/// characters no key types (they are skipped, and counted).
pub fn key_for(c: char) -> Option<(Key, bool)> {
    const LETTERS: [&str; 26] = [
        "KeyA", "KeyB", "KeyC", "KeyD", "KeyE", "KeyF", "KeyG", "KeyH", "KeyI", "KeyJ", "KeyK", "KeyL",
        "KeyM", "KeyN", "KeyO", "KeyP", "KeyQ", "KeyR", "KeyS", "KeyT", "KeyU", "KeyV", "KeyW", "KeyX",
        "KeyY", "KeyZ",
    ];
    const DIGITS: [&str; 10] =
        ["Digit0", "Digit1", "Digit2", "Digit3", "Digit4", "Digit5", "Digit6", "Digit7", "Digit8", "Digit9"];
    // Unshifted and shifted character of the other printable keys.
    const OTHERS: [(char, char, &str); 11] = [
        ('-', '_', "Minus"),
        ('=', '+', "Equal"),
        ('[', '{', "BracketLeft"),
        (']', '}', "BracketRight"),
        ('\\', '|', "Backslash"),
        (';', ':', "Semicolon"),
        ('\'', '"', "Quote"),
        (',', '<', "Comma"),
        ('.', '>', "Period"),
        ('/', '?', "Slash"),
        ('`', '~', "Backquote"),
    ];
    const SHIFTED_DIGITS: [char; 10] = [')', '!', '@', '#', '$', '%', '^', '&', '*', '('];
    let keysym = c as u32;
    match c {
        'a'..='z' => Some(((keysym, LETTERS[(keysym - 'a' as u32) as usize]), false)),
        'A'..='Z' => Some(((keysym, LETTERS[(keysym - 'A' as u32) as usize]), true)),
        '0'..='9' => Some(((keysym, DIGITS[(keysym - '0' as u32) as usize]), false)),
        ' ' => Some(((0x20, "Space"), false)),
        '\n' => Some((ENTER, false)),
        '\t' => Some((TAB, false)),
        _ => {
            if let Some(d) = SHIFTED_DIGITS.iter().position(|s| *s == c) {
                return Some(((keysym, DIGITS[d]), true));
            }
            OTHERS.iter().find_map(|(plain, shifted, code)| {
                if c == *plain {
                    Some(((keysym, *code), false))
                } else if c == *shifted {
                    Some(((keysym, *code), true))
                } else {
                    None
                }
            })
        }
    }
}

/// The key events that type `text`: (key, down), and how many characters had no key.
pub fn keystrokes(text: &str) -> (Vec<(Key, bool)>, usize) {
    let mut events = Vec::new();
    let mut skipped = 0;
    for c in text.chars() {
        match key_for(if c == '\r' { '\n' } else { c }) {
            Some((key, shift)) => {
                if shift {
                    events.push((SHIFT, true));
                }
                events.push((key, true));
                events.push((key, false));
                if shift {
                    events.push((SHIFT, false));
                }
            }
            None => skipped += 1,
        }
    }
    (events, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_us_keystrokes_with_shift_where_needed() {
        let (ev, skipped) = keystrokes("aB1!\n");
        let codes: Vec<(&str, bool)> = ev.iter().map(|((_, c), d)| (*c, *d)).collect();
        assert_eq!(
            codes,
            [
                ("KeyA", true),
                ("KeyA", false),
                ("ShiftLeft", true),
                ("KeyB", true),
                ("KeyB", false),
                ("ShiftLeft", false),
                ("Digit1", true),
                ("Digit1", false),
                ("ShiftLeft", true),
                ("Digit1", true),
                ("Digit1", false),
                ("ShiftLeft", false),
                ("Enter", true),
                ("Enter", false),
            ]
        );
        assert_eq!(skipped, 0);
        assert_eq!(keystrokes("é€").1, 2, "no US key types these");
        assert_eq!(key_for('?'), Some(((0x3f, "Slash"), true)));
        assert_eq!(f(12), (0xffc9, "F12"));
    }
}
