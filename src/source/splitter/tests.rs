//! The splitter's tests: chunking, limits, and the block scan held to the byte loop.

use super::*;
use proptest::prelude::*;

fn split_in_chunks(body: &[u8], chunk: usize) -> Result<Vec<String>, SplitError> {
    split_with(ArraySplitter::new(1 << 20, 64), body, chunk)
}

fn split_with(
    mut splitter: ArraySplitter,
    body: &[u8],
    chunk: usize,
) -> Result<Vec<String>, SplitError> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        splitter.push(piece);
        while let Some(range) = splitter.next()? {
            out.push(String::from_utf8_lossy(splitter.element(range)).into_owned());
        }
    }
    splitter.finish()?;
    Ok(out)
}

#[test]
fn elements_come_out_byte_for_byte_whatever_the_chunking() {
    let body = br#" [ {"a":"x]},\"y","b":[1,{"c":2}]} , {"Id":"2"},"s",12 ,null ] "#;
    for chunk in 1..body.len() {
        let elements = split_in_chunks(body, chunk).unwrap();
        assert_eq!(
            elements,
            vec![
                r#"{"a":"x]},\"y","b":[1,{"c":2}]}"#,
                r#"{"Id":"2"}"#,
                r#""s""#,
                "12",
                "null"
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn an_empty_array_and_a_bom_are_fine() {
    assert!(split_in_chunks(b"\xEF\xBB\xBF[]", 2).unwrap().is_empty());
}

#[test]
fn a_truncated_blob_is_reported() {
    let error = split_in_chunks(br#"[{"a":1},{"b":"#, 4).unwrap_err();
    assert!(matches!(error, SplitError::Truncated { .. }), "{error}");
}

#[test]
fn a_non_array_is_refused() {
    let error = split_in_chunks(br#"{"error":{}}"#, 4).unwrap_err();
    assert_eq!(error, SplitError::NotAnArray { found: '{' });
    assert!(split_in_chunks(b"<html>", 4).is_err());
}

#[test]
fn garbage_between_elements_is_refused() {
    assert!(split_in_chunks(br#"[{"a":1} x {"b":2}]"#, 3).is_err());
    assert!(split_in_chunks(br#"[,{"a":1}]"#, 3).is_err());
}

#[test]
fn an_oversized_element_is_refused() {
    let mut splitter = ArraySplitter::new(10, 64);
    splitter.push(br#"[{"a":"0123456789abcdef"#);
    assert_eq!(
        splitter.next(),
        Err(SplitError::ElementTooLarge { limit: 10 })
    );
}

#[test]
fn an_oversized_element_is_refused_when_it_arrives_in_pieces() {
    let body = br#"[{"a":"0123456789abcdef"},{"b":1}]"#;
    for chunk in 1..12 {
        let error = split_with(ArraySplitter::new(10, 64), body, chunk).unwrap_err();
        assert_eq!(
            error,
            SplitError::ElementTooLarge { limit: 10 },
            "chunk {chunk}"
        );
    }
    // Exactly at the limit, carried over several chunks, it is fine.
    let body = br#"[{"a":"01"},{"b":"0123"}]"#;
    for chunk in 1..body.len() {
        let elements = split_with(ArraySplitter::new(12, 64), body, chunk).unwrap();
        assert_eq!(
            elements,
            [r#"{"a":"01"}"#, r#"{"b":"0123"}"#],
            "chunk {chunk}"
        );
    }
}

#[test]
fn chunks_pushed_before_the_elements_are_taken_join_up() {
    let mut splitter = ArraySplitter::new(1 << 20, 64);
    let mut elements = Vec::new();
    for pieces in [&[&b"[{\"a\""[..], b":1},{\"b"][..], &[b"\":2}", b",3]"]] {
        for piece in pieces {
            splitter.push(piece);
        }
        while let Some(range) = splitter.next().unwrap() {
            elements.push(String::from_utf8_lossy(splitter.element(range)).into_owned());
        }
    }
    splitter.finish().unwrap();
    assert_eq!(elements, [r#"{"a":1}"#, r#"{"b":2}"#, "3"]);
    assert_eq!(splitter.bytes_seen(), 19);
}

#[test]
fn an_oversized_element_is_refused_even_when_it_arrives_whole() {
    let mut splitter = ArraySplitter::new(10, 64);
    splitter.push(br#"[{"a":"0123456789abcdef"},{"b":1}]"#);
    assert_eq!(
        splitter.next(),
        Err(SplitError::ElementTooLarge { limit: 10 })
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_at_the_first_level_too_many() {
    let within = format!("[{}{}]", "[".repeat(4), "]".repeat(4));
    let mut splitter = ArraySplitter::new(1024, 4);
    splitter.push(within.as_bytes());
    assert_eq!(splitter.next().unwrap(), Some(1..9));

    let deep = format!("[{}", "[{\"a\":".repeat(1_000_000));
    let mut splitter = ArraySplitter::new(usize::MAX, 64);
    splitter.push(deep.as_bytes());
    assert_eq!(
        splitter.next(),
        Err(SplitError::TooDeep {
            limit: 64,
            offset: 1 + 6 * 32
        })
    );
}

/// The same splitter reading every byte one by one (the reference for the block scan).
fn bytewise(max_element: usize, max_depth: u32) -> ArraySplitter {
    let mut splitter = ArraySplitter::new(max_element, max_depth);
    splitter.blocks = false;
    splitter
}

#[test]
fn long_elements_split_the_same_by_blocks_and_byte_by_byte() {
    let record = r#"{"Id":"1","Data":"{\"a\":\"}]\\\"\"}","List":[{"x":"[[["},{"y":"\\"}],"Pad":"0123456789012345678901234567890123456789"}"#;
    let body = format!("[{}]", [record; 7].join(" , "));
    for chunk in [1, 7, 63, 64, 65, 200, body.len()] {
        let by_blocks = split_in_chunks(body.as_bytes(), chunk).unwrap();
        assert_eq!(by_blocks, vec![record; 7], "chunk {chunk}");
        let by_bytes = split_with(bytewise(1 << 20, 64), body.as_bytes(), chunk).unwrap();
        assert_eq!(by_blocks, by_bytes, "chunk {chunk}");
    }
}

/// Elements nested `levels` deep (`2 * levels + 3` levels of objects and arrays), with brackets inside and
/// outside strings at every level, so that most 64-byte blocks open and close some while the element goes on.
fn nested(levels: usize, pad: usize) -> String {
    let padding = "x".repeat(pad);
    let mut element = format!(r#"{{"leaf":"{padding}","l":[1,[2],{{}}]}}"#);
    for level in 0..levels {
        element =
            format!(r#"{{"p{level}":"{padding}","k":[{element},{{"q":[[]]}}],"r":{{"s":"]}}"}}}}"#);
    }
    element
}

#[test]
fn nested_elements_split_and_hit_the_depth_limit_the_same_by_blocks_and_byte_by_byte() {
    for levels in 0..12 {
        for pad in [0, 5, 30, 70] {
            let element = nested(levels, pad);
            let body = format!("[{element},{element}]");
            for max_depth in 1..(2 * levels as u32 + 6) {
                for chunk in [13, 64, body.len()] {
                    let by_blocks = split_with(
                        ArraySplitter::new(1 << 20, max_depth),
                        body.as_bytes(),
                        chunk,
                    );
                    let by_bytes = split_with(bytewise(1 << 20, max_depth), body.as_bytes(), chunk);
                    assert_eq!(
                        by_blocks, by_bytes,
                        "levels {levels} pad {pad} max_depth {max_depth}"
                    );
                    if max_depth as usize >= 2 * levels + 3 {
                        assert_eq!(by_blocks, Ok(vec![element.clone(), element.clone()]));
                    }
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn blocks_and_the_byte_loop_agree_on_any_input(
        elements in proptest::collection::vec(
            proptest::collection::vec(prop::sample::select(b"\"\\{}[]a ,:1".to_vec()), 0..300),
            0..5,
        ),
        chunk in 1usize..200,
        max_depth in 1u32..6,
        max_element in 16usize..400,
    ) {
        // Mostly objects (where blocks are used), with anything inside, valid JSON or not.
        let elements: Vec<String> = elements
            .iter()
            .map(|inner| format!("{{{}}}", String::from_utf8_lossy(inner)))
            .collect();
        let body = format!("[{}]", elements.join(","));
        let by_blocks = split_with(ArraySplitter::new(max_element, max_depth), body.as_bytes(), chunk);
        let by_bytes = split_with(bytewise(max_element, max_depth), body.as_bytes(), chunk);
        prop_assert_eq!(by_blocks, by_bytes);
    }

    #[test]
    fn any_array_of_json_objects_splits_into_its_elements(
        values in proptest::collection::vec(proptest::collection::btree_map("[a-z\"\\\\\\]\\[{}, ]{0,8}", "[ -~]{0,12}", 0..4), 0..6),
        chunk in 1usize..17,
    ) {
        let elements: Vec<String> = values.iter().map(|value| serde_json::to_string(value).unwrap()).collect();
        let body = format!("[{}]", elements.join(","));
        prop_assert_eq!(split_in_chunks(body.as_bytes(), chunk).unwrap(), elements);
    }
}
