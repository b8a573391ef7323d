//! Workbooks written by hand, for odd and hostile inputs: a sheet's XML exactly as given, zipped
//! with the few parts a reader needs; and an existing workbook with one part rewritten.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

/// A workbook of one sheet, `Feuil1`, whose `<sheetData>` holds `rows` as given.
pub(crate) fn xlsx(rows: &str) -> Vec<u8> {
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
    );
    zip_parts(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A zip of `parts`, deflated.
pub(crate) fn zip_parts(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A text cell.
pub(crate) fn text(at: &str, value: &str) -> String {
    format!(r#"<c r="{at}" t="inlineStr"><is><t>{value}</t></is></c>"#)
}

/// A number cell.
pub(crate) fn number(at: &str, value: f64) -> String {
    format!(r#"<c r="{at}"><v>{value}</v></c>"#)
}

/// A row element holding `cells`.
pub(crate) fn row(number: u32, cells: &[String]) -> String {
    format!(r#"<row r="{number}">{}</row>"#, cells.concat())
}

/// Rewrites the part `entry` of the workbook at `path`, keeping every other part as it was.
pub(crate) fn rewrite_part(path: &Path, entry: &str, edit: impl FnOnce(String) -> String) {
    let bytes = std::fs::read(path).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        parts.push((file.name().unwrap().to_string(), content));
    }
    let mut edit = Some(edit);
    let parts: Vec<(String, Vec<u8>)> = parts
        .into_iter()
        .map(|(name, content)| {
            if name == entry {
                let edited = (edit.take().unwrap())(String::from_utf8(content).unwrap());
                (name, edited.into_bytes())
            } else {
                (name, content)
            }
        })
        .collect();
    assert!(edit.is_none(), "no part `{entry}` in {}", path.display());
    let borrowed: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    std::fs::write(path, zip_parts(&borrowed)).unwrap();
}

/// The `<row>` elements of a sheet's XML, and the text before and after them.
pub(crate) fn split_rows(xml: &str) -> (String, Vec<String>, String) {
    let start = xml.find("<row ").unwrap();
    let end = xml.rfind("</row>").unwrap() + "</row>".len();
    let rows = xml[start..end]
        .split_inclusive("</row>")
        .map(str::to_string)
        .collect();
    (xml[..start].to_string(), rows, xml[end..].to_string())
}
