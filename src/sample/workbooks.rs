//! The three workbooks of a sample month, written as the merchant's exports look: the ERP's and
//! the mapping's plain sheets, and the web shop's 28 columns with two rows per product.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use chrono::NaiveDateTime;

use super::generate::{MonthData, Product, Rng, WebId};

pub(super) fn new_workbook() -> Workbook {
    let mut workbook = Workbook::new();
    let properties = DocProperties::new()
        .set_creation_datetime(&ExcelDateTime::from_ymd(2026, 1, 1).expect("a valid date"))
        .set_author("ERP export");
    workbook.set_properties(&properties);
    workbook
}

pub(super) fn write_header(sheet: &mut Worksheet, columns: &[&str]) -> Result<(), XlsxError> {
    for (col, name) in columns.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    Ok(())
}

pub(super) fn erp_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = new_workbook();
    let sheet = workbook.add_worksheet().set_name("erp")?;
    write_header(
        sheet,
        &[
            "product_id",
            "onsale_web",
            "price",
            "stock_quantity",
            "stock_status",
        ],
    )?;
    for (i, product) in month.products.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_number(row, 0, product.product_id as f64)?;
        sheet.write_number(row, 1, f64::from(u8::from(product.onsale_web)))?;
        sheet.write_number(row, 2, product.price_tenths as f64 / 10.0)?;
        sheet.write_number(row, 3, product.stock_quantity as f64)?;
        let status = if product.instock {
            "instock"
        } else {
            "outofstock"
        };
        sheet.write_string(row, 4, status)?;
    }
    workbook.save_to_buffer()
}

pub(super) fn liaison_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = new_workbook();
    let sheet = workbook.add_worksheet().set_name("liaison")?;
    write_header(sheet, &["product_id", "id_web"])?;
    for (i, product) in month.products.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_number(row, 0, product.product_id as f64)?;
        match &product.web_id {
            WebId::None => {}
            WebId::Number(n) if product.id_as_text_in_liaison => {
                sheet.write_string(row, 1, n.to_string())?;
            }
            WebId::Number(n) => {
                sheet.write_number(row, 1, *n as f64)?;
            }
            WebId::Text(t) => {
                sheet.write_string(row, 1, t)?;
            }
        }
    }
    workbook.save_to_buffer()
}

pub(super) const WEB_COLUMNS: [&str; 28] = [
    "sku",
    "virtual",
    "downloadable",
    "rating_count",
    "average_rating",
    "total_sales",
    "tax_status",
    "tax_class",
    "post_author",
    "post_date",
    "post_date_gmt",
    "post_content",
    "post_title",
    "post_excerpt",
    "post_status",
    "comment_status",
    "ping_status",
    "post_password",
    "post_name",
    "post_modified",
    "post_modified_gmt",
    "post_content_filtered",
    "post_parent",
    "guid",
    "menu_order",
    "post_type",
    "post_mime_type",
    "comment_count",
];

/// One row of the web export.
pub(super) enum WebRow<'a> {
    Product(&'a Product),
    Image(&'a Product),
    Blank,
}

pub(super) fn web_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
    let mut rows: Vec<WebRow<'_>> = Vec::new();
    let mut listed: Vec<&Product> = month.products.iter().filter(|p| p.on_web).collect();
    listed.sort_by_key(|p| p.post_id);
    for product in listed {
        rows.push(WebRow::Product(product));
        rows.push(WebRow::Image(product));
    }
    for orphan in &month.orphans {
        rows.push(WebRow::Product(orphan));
    }
    for _ in 0..month.blank_web_rows {
        rows.push(WebRow::Blank);
    }
    if month.shuffled {
        let mut rng = Rng(0x054A_FF1E);
        rng.shuffle(&mut rows);
    }
    let mut workbook = new_workbook();
    let date_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let sheet = workbook.add_worksheet().set_name("web")?;
    write_header(sheet, &WEB_COLUMNS)?;
    for (i, row) in rows.iter().enumerate() {
        write_web_row(sheet, i as u32 + 1, row, &date_format)?;
    }
    workbook.save_to_buffer()
}

pub(super) fn excel_datetime(datetime: &NaiveDateTime) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_timestamp(datetime.and_utc().timestamp())
}

pub(super) fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        let c = match c {
            'à' | 'â' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'û' | 'ù' => 'u',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

pub(super) fn write_web_row(
    sheet: &mut Worksheet,
    row: u32,
    web_row: &WebRow<'_>,
    date_format: &Format,
) -> Result<(), XlsxError> {
    for col in 1..=3 {
        sheet.write_number(row, col, 0.0)?;
    }
    let (product, is_image) = match web_row {
        WebRow::Blank => return Ok(()),
        WebRow::Product(p) => (*p, false),
        WebRow::Image(p) => (*p, true),
    };
    match product.web_id.text() {
        Some(_) if product.sku_as_text_in_web => {
            sheet.write_string(row, 0, product.web_id.text().unwrap_or_default())?;
        }
        Some(text) => match &product.web_id {
            WebId::Number(n) => {
                sheet.write_number(row, 0, *n as f64)?;
            }
            _ => {
                sheet.write_string(row, 0, text)?;
            }
        },
        None => {}
    }
    let sales = match product.stale_sales {
        Some((low, on_image)) if on_image == is_image => low,
        _ => product.sales,
    };
    sheet.write_number(row, 4, 0.0)?;
    sheet.write_number(row, 5, sales as f64)?;
    sheet.write_string(row, 6, "taxable")?;
    sheet.write_number(row, 8, 2.0)?;
    let post_id = product.post_id + u64::from(is_image);
    let posted = excel_datetime(&product.posted)?;
    let modified = excel_datetime(&product.modified)?;
    sheet.write_datetime_with_format(row, 9, &posted, date_format)?;
    sheet.write_datetime_with_format(row, 10, &posted, date_format)?;
    sheet.write_string(row, 12, &product.title)?;
    if !is_image {
        sheet.write_string(row, 13, &product.excerpt)?;
    }
    sheet.write_string(row, 14, if is_image { "inherit" } else { "publish" })?;
    sheet.write_string(row, 15, if is_image { "open" } else { "closed" })?;
    sheet.write_string(row, 16, "closed")?;
    let slug = slug(&product.title);
    sheet.write_string(row, 18, &slug)?;
    sheet.write_datetime_with_format(row, 19, &modified, date_format)?;
    sheet.write_datetime_with_format(row, 20, &modified, date_format)?;
    sheet.write_number(
        row,
        22,
        if is_image {
            product.post_id as f64
        } else {
            0.0
        },
    )?;
    let guid = if is_image {
        format!(
            "https://www.bottleneck.example/wp-content/uploads/{}/{slug}.jpg",
            product.posted.format("%Y/%m")
        )
    } else {
        format!("https://www.bottleneck.example/?post_type=product&#038;p={post_id}")
    };
    sheet.write_string(row, 23, guid)?;
    sheet.write_number(row, 24, 0.0)?;
    sheet.write_string(row, 25, if is_image { "attachment" } else { "product" })?;
    if is_image {
        sheet.write_string(row, 26, "image/jpeg")?;
    }
    sheet.write_number(row, 27, 0.0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(
            slug("Château du Couvent Pomerol 2017"),
            "chateau-du-couvent-pomerol-2017"
        );
    }
}
