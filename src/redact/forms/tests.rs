use super::*;

const SECRET: &str = "tok3n-Secret.value";

fn scrubbed(text: &str) -> String {
    scrub(text, &Needles::new(&[SECRET]), "[R]", "%5BR%5D").into_owned()
}

fn percent_all(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

#[test]
fn every_single_escape_form_is_found_and_replaced_in_place() {
    let json_escaped: String = SECRET
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let html: String = SECRET.chars().map(|c| format!("&#{};", c as u32)).collect();
    let html_hex: String = SECRET
        .chars()
        .map(|c| format!("&#x{:x};", c as u32))
        .collect();
    for (form, expected_placeholder) in [
        (SECRET.to_owned(), "[R]"),
        (percent_all(SECRET, true), "%5BR%5D"),
        (percent_all(SECRET, false), "%5BR%5D"),
        ("tok3n%2DSecret.value".to_owned(), "%5BR%5D"),
        (json_escaped, "[R]"),
        (html, "[R]"),
        (html_hex, "[R]"),
    ] {
        let text = format!("before {form} after");
        assert_eq!(
            scrubbed(&text),
            format!("before {expected_placeholder} after"),
            "{form}"
        );
    }
}

#[test]
fn plus_is_found_as_space_and_as_plus() {
    let needles = Needles::new(&["pass word+more"]);
    assert_eq!(
        scrub("p=pass+word%2Bmore&x=1", &needles, "[R]", "%5BR%5D"),
        "p=%5BR%5D&x=1"
    );
}

#[test]
fn base64_at_every_alignment_and_alphabet_is_found() {
    for prefix in ["", "u", "us", "user:"] {
        let plain = format!("{prefix}{SECRET}?>?>");
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(plain.as_bytes());
            let text = format!("Basic {encoded} end");
            assert_eq!(scrubbed(&text), "Basic [R] end", "{text}");
        }
    }
}

#[test]
fn nested_escapes_replace_the_whole_string() {
    let double = percent_all(&percent_all(SECRET, true), false);
    assert_eq!(scrubbed(&format!("x {double} y")), "[R]");
    let percent_of_json: String = SECRET
        .chars()
        .map(|c| format!("%5Cu{:04x}", c as u32))
        .collect();
    assert_eq!(scrubbed(&percent_of_json), "[R]");
}

#[test]
fn clean_text_is_borrowed_untouched() {
    let text = "100% \\ &amp; + tok3n-Secret but not whole";
    assert!(matches!(
        scrub(text, &Needles::new(&[SECRET]), "[R]", "%5BR%5D"),
        Cow::Borrowed(_)
    ));
    assert!(!Needles::new(&[SECRET]).contains_any(text));
}

#[test]
fn case_changed_hex_mime_and_quoted_printable_echoes_are_found() {
    let token = "a3f09bc4d2e1";
    let needles = Needles::new(&[token]);
    assert_eq!(
        scrub("bad token A3F09BC4D2E1!", &needles, "[R]", "%5BR%5D"),
        "bad token [R]!"
    );
    let hex: String = token.bytes().map(|b| format!("{b:02X}")).collect();
    assert!(needles.contains_any(&format!("dump {hex}")));
    let long = "x".repeat(70) + token + "tail";
    let mime = STANDARD.encode(long.as_bytes());
    let wrapped = format!("{}\r\n{}", &mime[..76], &mime[76..]);
    assert!(needles.contains_any(&wrapped), "{wrapped}");
    let qp = Needles::new(&["pw=S14qpSecret=RR"]);
    assert!(qp.contains_any("user:pw=3DS14qpSecret=3DRR"));
}

/// A UTF-16 text carried as base64: either byte order, with or
/// without a byte order mark before it, either alphabet.
#[test]
fn base64_of_the_utf16_encodings_is_found_and_replaced() {
    for (le, bom) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut bytes: Vec<u8> = match (bom, le) {
            (false, _) => Vec::new(),
            (true, true) => vec![0xff, 0xfe],
            (true, false) => vec![0xfe, 0xff],
        };
        for unit in format!("x {SECRET} y").encode_utf16() {
            bytes.extend(if le {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        for engine in [&STANDARD, &URL_SAFE] {
            let text = format!("blob {} end", engine.encode(&bytes));
            assert_eq!(scrubbed(&text), "blob [R] end", "{text}");
        }
    }
}

#[test]
fn utf16_and_binary_forms_are_found_in_bytes() {
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(SECRET.encode_utf16().flat_map(u16::to_le_bytes));
    assert!(Needles::new(&[SECRET]).bytes_contain_any(&bytes));
    let mut bytes = vec![0x00, 0x9f];
    bytes.extend_from_slice(SECRET.as_bytes());
    assert!(Needles::new(&[SECRET]).bytes_contain_any(&bytes));
    assert!(!Needles::new(&[SECRET]).bytes_contain_any(&[0u8, 1, 2, 255]));
}
