use super::*;

/// Every document reads as the `Value` serde_json makes of it, and is
/// refused where serde_json refuses it.
#[test]
fn a_light_tree_holds_what_serde_json_makes_of_the_same_bytes() {
    let documents: &[&[u8]] = &[
        b"{}",
        b"[]",
        b"null",
        b"  true ",
        b"12",
        b"-0.5e3",
        b"123456789012345678901234567890",
        br#"{"a":1,"b":[1,2.5,"x",null,false],"c":{"d":"\u00e9\n"}}"#,
        br#"{"a":1,"b":2,"a":3}"#,
        br#"{"na\"me":"va\\lue","\u0041":"A"}"#,
        br#"{"$serde_json::private::Number":"12"}"#,
        br#"{"x":{"$serde_json::private::Number":"1e400"}}"#,
        br#"{"$serde_json::private::Number":"nope"}"#,
        br#"{"$serde_json::private::Number":"1","b":2}"#,
        br#"{"b":1,"$serde_json::private::Number":"1"}"#,
        b"{\"a\":1,}",
        b"[1,2",
        b"{\"a\":1} x",
        b"\"\xff\"",
        br#""\ud800""#,
        b"",
        b"  ",
        "{\"é\":\"ü\"}".as_bytes(),
        b"[[[[[[]]]]]]",
    ];
    for bytes in documents {
        let expected = serde_json::from_slice::<Value>(bytes).ok();
        let light = Light::parse(bytes, 100).map(|light| light.to_value());
        assert_eq!(light, expected, "{}", String::from_utf8_lossy(bytes));
    }
}

/// `Value` reads such an object as the document its string holds (or
/// refuses the body); the light tree leaves it to the full check. As a
/// later member the name is an ordinary one, for both.
#[test]
fn an_object_starting_with_serde_json_raw_value_token_is_refused() {
    let raw: &[&[u8]] = &[
        br#"{"$serde_json::private::RawValue":"5"}"#,
        br#"{"a":{"$serde_json::private::RawValue":"{}"}}"#,
        br#"[{"$serde_json::private::RawValue":"nope"}]"#,
        br#"{"\u0024serde_json::private::RawValue":"[]"}"#,
    ];
    for bytes in raw {
        assert!(
            Light::parse(bytes, 100).is_none(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    let later = br#"{"a":1,"$serde_json::private::RawValue":"5"}"#;
    let expected = serde_json::from_slice::<Value>(later).ok();
    assert_eq!(
        Light::parse(later, 100).map(|light| light.to_value()),
        expected
    );
    assert!(expected.is_some());
}

/// Past the scan limit a repeated name is found through the index: the
/// first place, the last value, as `Value` holds it, on either side of
/// the limit and across it.
#[test]
fn a_wide_object_with_repeated_names_reads_as_value_reads_it() {
    for width in [SCAN_LIMIT - 1, SCAN_LIMIT, SCAN_LIMIT + 1, 3 * SCAN_LIMIT] {
        for repeated in [0, SCAN_LIMIT - 1, SCAN_LIMIT, width - 1] {
            let mut members: Vec<String> = (0..width).map(|at| format!("\"m{at}\":{at}")).collect();
            members.push(format!("\"m{repeated}\":\"last\""));
            members.push(format!("\"m\\u00{:02x}\":true", u32::from(b'0')));
            members.push("\"m0\":[1]".to_owned());
            let text = format!("{{{}}}", members.join(","));
            let expected: Value = serde_json::from_str(&text).expect("json");
            let light = Light::parse(text.as_bytes(), 100).expect("light");
            assert_eq!(light.to_value(), expected, "{text}");
            let names: Vec<&str> = match &light {
                Light::Object(members) => members.iter().map(|(name, _)| &**name).collect(),
                _ => panic!("an object"),
            };
            let expected_names: Vec<&str> = expected
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(names, expected_names, "{text}");
        }
    }
}

#[test]
fn depth_counts_arrays_and_objects_and_the_limit_is_kept() {
    assert!(Light::parse(b"1", 0).is_some());
    assert!(Light::parse(b"[]", 0).is_none());
    assert!(Light::parse(b"[{}]", 2).is_some());
    assert!(Light::parse(b"[{}]", 1).is_none());
    assert!(Light::parse(br#"{"a":[1,{"b":[]}],"c":2}"#, 4).is_some());
    assert!(Light::parse(br#"{"a":[1,{"b":[]}],"c":2}"#, 3).is_none());
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    assert!(Light::parse(deep.as_bytes(), 100).is_none());
    let at_limit = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(Light::parse(at_limit.as_bytes(), 100).is_some());
}

#[test]
fn validators_built_for_light_trees_agree_with_value_validators() {
    let schema = serde_json::json!({
        "type": "object",
        "required": ["data"],
        "additionalProperties": false,
        "properties": {
            "data": {
                "type": "object",
                "properties": {
                    "type": {"const": "item"},
                    "id": {"type": "string", "pattern": "^[0-9]+$"},
                    "n": {"type": "integer", "minimum": 1, "maximum": 10},
                    "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                    "kind": {"enum": ["a", "b", 3]},
                    "obj": {"const": {"x": [1, 2]}},
                    "name": {"type": "string", "minLength": 2, "maxLength": 3},
                    "map": {"propertyNames": {"pattern": "^[a-z]+$"}}
                }
            }
        }
    });
    let slow = jsonschema::options().build(&schema).expect("schema");
    let fast = jsonschema::options_for::<LightJson>()
        .build(&schema)
        .expect("schema");
    let documents = [
        r#"{"data":{}}"#,
        r#"{}"#,
        r#"{"data":{},"x":1}"#,
        r#"{"data":{"type":"item","id":"12"}}"#,
        r#"{"data":{"type":"items"}}"#,
        r#"{"data":{"id":"1a"}}"#,
        r#"{"data":{"n":1}}"#,
        r#"{"data":{"n":1.0}}"#,
        r#"{"data":{"n":10.5}}"#,
        r#"{"data":{"n":0}}"#,
        r#"{"data":{"n":"1"}}"#,
        r#"{"data":{"tags":["a","b"]}}"#,
        r#"{"data":{"tags":["a","a"]}}"#,
        r#"{"data":{"kind":"a"}}"#,
        r#"{"data":{"kind":3.0}}"#,
        r#"{"data":{"kind":"c"}}"#,
        r#"{"data":{"obj":{"x":[1,2]}}}"#,
        r#"{"data":{"obj":{"x":[1.0,2]}}}"#,
        r#"{"data":{"obj":{"x":[2,1]}}}"#,
        r#"{"data":{"name":"éé"}}"#,
        r#"{"data":{"name":"é"}}"#,
        r#"{"data":{"name":"éééé"}}"#,
        r#"{"data":{"map":{"ab":1}}}"#,
        r#"{"data":{"map":{"Ab":1}}}"#,
        r#"{"data":{"n":1},"data":{"n":0}}"#,
        r#"{"data":{"n":0},"data":{"n":1}}"#,
        r#"[]"#,
    ];
    for text in documents {
        let value: Value = serde_json::from_str(text).expect("json");
        let light = Light::parse(text.as_bytes(), 100).expect("light");
        assert_eq!(fast.is_valid(&light), slow.is_valid(&value), "{text}");
    }
}
