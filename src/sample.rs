//! The sample project: this repository's `winebuild.toml` and `models/`, plus three generated
//! months of the merchant's three workbooks with every quirk of the real files.
//!
//! Rules it keeps:
//! - deterministic: a fixed seed, no clock, no hash-map order; the same options always write the
//!   same workbooks, byte for byte (the repository's `data/` is this generator's output);
//! - the reference month (`2026-09`) at scale 1 reproduces the seven reference figures exactly
//!   (825, 825, 1428, 714, 714, 70 568,60 €, 30 premium); the generator checks them itself and
//!   fails rather than write a month that misses them;
//! - the months around it change the way a shop does: prices move, wines come and go, sales
//!   accumulate, wines enter and leave the premium list, one export is shuffled.

use crate::error::Hint;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

/// The sample months, oldest first; the middle one is the reference month.
pub const SAMPLE_MONTHS: [&str; 3] = ["2026-08", "2026-09", "2026-10"];
pub const REFERENCE_MONTH: &str = "2026-09";

/// The reference month's CA total, in tenths of a euro... times ten: cents.
const REFERENCE_CA_CENTS: i64 = 7_056_860;
const REFERENCE_PREMIUM: usize = 30;

/// The project files shipped with the sample, taken from this repository.
const PROJECT_FILES: &[(&str, &str)] = &[
    ("winebuild.toml", include_str!("../winebuild.toml")),
    (
        "models/erp_clean.sql",
        include_str!("../models/erp_clean.sql"),
    ),
    (
        "models/liaison_clean.sql",
        include_str!("../models/liaison_clean.sql"),
    ),
    (
        "models/web_clean.sql",
        include_str!("../models/web_clean.sql"),
    ),
    (
        "models/web_dedup.sql",
        include_str!("../models/web_dedup.sql"),
    ),
    ("models/fusion.sql", include_str!("../models/fusion.sql")),
    ("models/ca.sql", include_str!("../models/ca.sql")),
    (
        "models/ca_total.sql",
        include_str!("../models/ca_total.sql"),
    ),
    (
        "models/price_zscore.sql",
        include_str!("../models/price_zscore.sql"),
    ),
    ("models/premium.sql", include_str!("../models/premium.sql")),
    (
        "models/ordinaires.sql",
        include_str!("../models/ordinaires.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot write `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error("`{month}` is not a sample month ({})", SAMPLE_MONTHS.join(", "))]
    UnknownMonth { month: String },
    #[error("`--scale` must be between 1 and 1000, not {scale}")]
    Scale { scale: u32 },
    #[error("the generated reference month misses its figures: {message}")]
    Reference { message: String },
}

impl Hint for SampleError {
    fn hint(&self) -> Option<String> {
        match self {
            SampleError::Write { .. } => Some("check that the folder is writable".into()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub scale: u32,
    pub data_only: bool,
    pub month: Option<String>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            scale: 1,
            data_only: false,
            month: None,
        }
    }
}

/// Writes the sample project into `dir`; returns the files written.
pub fn write_sample(dir: &Path, options: &SampleOptions) -> Result<Vec<PathBuf>, SampleError> {
    if !(1..=1000).contains(&options.scale) {
        return Err(SampleError::Scale {
            scale: options.scale,
        });
    }
    if let Some(month) = &options.month
        && !SAMPLE_MONTHS.contains(&month.as_str())
    {
        return Err(SampleError::UnknownMonth {
            month: month.clone(),
        });
    }
    let mut written = Vec::new();
    if !options.data_only {
        for (name, text) in PROJECT_FILES {
            let path = dir.join(name);
            write_file(&path, text.as_bytes())?;
            written.push(path);
        }
    }
    let months = generate_months(options.scale)?;
    for (month, data) in SAMPLE_MONTHS.iter().zip(&months) {
        if options.month.as_deref().is_some_and(|m| m != *month) {
            continue;
        }
        let month_dir = dir.join("data").join(month);
        let expect_path = month_dir.join(crate::checks::EXPECT_FILE);
        write_file(&expect_path, expect_toml(month, data).as_bytes())?;
        written.push(expect_path);
        for (file, bytes) in [
            ("erp.xlsx", erp_workbook(data)),
            ("liaison.xlsx", liaison_workbook(data)),
            ("web.xlsx", web_workbook(data)),
        ] {
            let path = month_dir.join(file);
            let bytes = bytes.map_err(|e| SampleError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
            write_file(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The month's pinned figures, computed from the generator's own products (not by running the
/// pipeline), so a build that reproduces them checks the models against an independent count.
fn expect_toml(month: &str, data: &MonthData) -> String {
    let rows = data.products.len();
    let on_web: Vec<&Product> = data.products.iter().filter(|p| p.on_web).collect();
    let ca_cents: i64 = on_web.iter().map(|p| p.price_tenths * p.sales * 10).sum();
    format!(
        "# The figures the {month} build must reproduce: the earlier pipeline's seven checks.\n\
         # Each key names a check declared in models/; `winebuild test` compares.\n\
         test-nettoyage-erp = {rows}\n\
         test-nettoyage-liaison = {rows}\n\
         test-nettoyage-web-clean = {}\n\
         test-nettoyage-web-dedup = {}\n\
         test-fusion = {}\n\
         test-ca = {{ value = {}.{:02}, tolerance = 0.01 }}\n\
         test-premium = {}\n",
        2 * on_web.len(),
        on_web.len(),
        on_web.len(),
        ca_cents / 100,
        ca_cents % 100,
        premium_count(&data.products),
    )
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SampleError> {
    let error = |e: std::io::Error| SampleError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    std::fs::write(path, bytes).map_err(error)
}

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1) as u64)) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// How a product's web id is stored in LIAISON (and its sku in WEB).
#[derive(Debug, Clone, PartialEq)]
enum WebId {
    None,
    Number(u64),
    Text(String),
}

impl WebId {
    fn text(&self) -> Option<String> {
        match self {
            WebId::None => None,
            WebId::Number(n) => Some(n.to_string()),
            WebId::Text(t) => Some(t.clone()),
        }
    }
}

#[derive(Debug, Clone)]
struct Product {
    product_id: u64,
    web_id: WebId,
    /// Listed in the web export this month.
    on_web: bool,
    onsale_web: bool,
    price_tenths: i64,
    stock_quantity: i64,
    instock: bool,
    /// Lifetime sales (WooCommerce's total_sales), the larger of the product's two web rows.
    sales: i64,
    /// A smaller total_sales carried by one of the two rows, and whether it is the image row.
    stale_sales: Option<(i64, bool)>,
    /// Store the sku as text in WEB although it is a number (and the reverse in LIAISON).
    sku_as_text_in_web: bool,
    id_as_text_in_liaison: bool,
    title: String,
    post_id: u64,
    posted: NaiveDateTime,
    modified: NaiveDateTime,
    excerpt: String,
}

/// One month's three exports, before they are written as workbooks.
#[derive(Debug, Clone)]
struct MonthData {
    products: Vec<Product>,
    blank_web_rows: usize,
    /// Real web products with sales but no sku (dropped by web_clean).
    orphans: Vec<Product>,
    shuffled: bool,
}

/// Generates the three sample months at `scale`.
fn generate_months(scale: u32) -> Result<Vec<MonthData>, SampleError> {
    let mut rng = Rng(0x5EED_CAFE ^ u64::from(scale));
    let reference = reference_month(&mut rng, scale as usize)?;
    let previous = previous_month(&reference, &mut rng, scale as usize);
    let next = next_month(&reference, &mut rng, scale as usize);
    Ok(vec![previous, reference, next])
}

const DOMAINS: &[&str] = &[
    "Château du Couvent",
    "Domaine de la Croix",
    "Clos Saint-Martin",
    "Château Les Hauts",
    "Domaine des Vignes Hautes",
    "Château Bel-Air",
    "Domaine Fontaine",
    "Maison Delaunay",
    "Château La Tour Blanche",
    "Domaine du Moulin",
    "Clos des Lièvres",
    "Château Grand Pré",
    "Domaine Rousseau",
    "Domaine de l'Abbaye",
    "Château Beauséjour",
    "Domaine Mercier",
];
const APPELLATIONS: &[&str] = &[
    "Bordeaux Supérieur",
    "Côtes du Rhône",
    "Saint-Chinian",
    "Chablis",
    "Muscadet Sèvre et Maine",
    "Bourgogne Aligoté",
    "Coteaux du Languedoc",
    "Saumur-Champigny",
    "Côtes de Provence rosé",
    "Minervois",
    "Vouvray",
    "Cahors",
    "Sancerre",
    "Crozes-Hermitage",
    "Madiran",
    "Alsace Riesling",
];
const GRAND_APPELLATIONS: &[&str] = &[
    "Pomerol",
    "Saint-Émilion Grand Cru",
    "Margaux",
    "Pauillac",
    "Chambolle-Musigny",
    "Meursault",
    "Hermitage",
    "Châteauneuf-du-Pape",
    "Champagne Brut Millésimé",
    "Puligny-Montrachet",
];
const SENTENCES: &[&str] = &[
    "Une robe profonde aux reflets grenat, un nez de fruits noirs et d'épices douces.",
    "La bouche est ample, soutenue par des tanins fins et une belle fraîcheur.",
    "Élevé douze mois en fûts de chêne, il gagnera encore à patienter quelques années en cave.",
    "Parfait sur une côte de bœuf, un gibier à plumes ou des fromages affinés.",
    "Un vin de plaisir, gourmand et croquant, à servir légèrement frais entre amis.",
    "Les vignes, conduites en agriculture raisonnée, plongent leurs racines dans un sol argilo-calcaire.",
    "Des arômes d'agrumes, de fleurs blanches et une finale saline d'une grande pureté.",
    "Le domaine, transmis de génération en génération, vendange à la main et trie chaque grappe.",
    "Une cuvée confidentielle, produite à quelques milliers de bouteilles seulement.",
    "À déguster dès aujourd'hui sur le fruit, ou à garder jusqu'à dix ans.",
    "Idéal à l'apéritif, sur des fruits de mer ou un poisson grillé.",
    "La finale, longue et épicée, laisse une impression de velours.",
];

fn wine_title(rng: &mut Rng, premium: bool) -> String {
    let domain = rng.pick(DOMAINS);
    let appellation = if premium {
        rng.pick(GRAND_APPELLATIONS)
    } else {
        rng.pick(APPELLATIONS)
    };
    format!("{domain} {appellation} {}", rng.range(2012, 2023))
}

fn excerpt(rng: &mut Rng) -> String {
    let count = rng.range(3, 6) as usize;
    (0..count)
        .map(|_| *rng.pick(SENTENCES))
        .collect::<Vec<_>>()
        .join(" ")
}

fn datetime(rng: &mut Rng, from_year: i32, to_year: i32) -> NaiveDateTime {
    let date = NaiveDate::from_ymd_opt(
        rng.range(from_year as i64, to_year as i64) as i32,
        rng.range(1, 12) as u32,
        rng.range(1, 28) as u32,
    )
    .expect("days 1 to 28 exist in every month");
    date.and_hms_opt(
        rng.range(8, 19) as u32,
        rng.range(0, 59) as u32,
        rng.range(0, 59) as u32,
    )
    .expect("a valid time")
}

/// Distinct ids in `low..high`, sorted.
fn distinct_ids(rng: &mut Rng, count: usize, low: u64, high: u64) -> Vec<u64> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < count {
        ids.insert(low + rng.next() % (high - low));
    }
    ids.into_iter().collect()
}

fn ordinary_price(rng: &mut Rng) -> i64 {
    // Mostly 8.50 € to 37 €, some up to 60 €, in tenths of a euro: with the premium wines the
    // shop's mean price comes out near the real 32.4 €.
    if rng.chance(80) {
        rng.range(85, 370)
    } else {
        rng.range(370, 600)
    }
}

fn premium_price(rng: &mut Rng) -> i64 {
    rng.range(950, 2000)
}

fn new_product(rng: &mut Rng, product_id: u64, post_id: u64, premium: bool) -> Product {
    let posted = datetime(rng, 2018, 2024);
    let modified = datetime(rng, 2025, 2026).max(posted);
    Product {
        product_id,
        web_id: WebId::None,
        on_web: false,
        onsale_web: false,
        price_tenths: if premium {
            premium_price(rng)
        } else {
            ordinary_price(rng)
        },
        stock_quantity: 0,
        instock: false,
        sales: 0,
        stale_sales: None,
        sku_as_text_in_web: false,
        id_as_text_in_liaison: false,
        title: wine_title(rng, premium),
        post_id,
        posted,
        modified,
        excerpt: excerpt(rng),
    }
}

/// The reference month: the seven figures of DATA.md, times `scale`.
fn reference_month(rng: &mut Rng, scale: usize) -> Result<MonthData, SampleError> {
    let erp_rows = 825 * scale;
    let web_products = 714 * scale;
    let text_ids = 3 * scale;
    let unmatched = 20 * scale;
    let unmatched_on_sale = 3 * scale;
    let out_of_stock = 187 * scale;
    let premium = REFERENCE_PREMIUM * scale;
    let (id_low, id_high, sku_low, sku_high) = if scale == 1 {
        (1000, 10_000, 10_000, 20_000)
    } else {
        (
            100_000,
            100_000 + 20 * erp_rows as u64,
            1_000_000,
            1_000_000 + 20 * erp_rows as u64,
        )
    };
    let product_ids = distinct_ids(rng, erp_rows, id_low, id_high);
    let mut skus = distinct_ids(rng, web_products + unmatched, sku_low, sku_high);
    rng.shuffle(&mut skus);
    let mut products: Vec<Product> = product_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| new_product(rng, id, 15_000 + 2 * i as u64, false))
        .collect();
    // Roles, by position in a shuffled order: web products first, then ids the web does not know,
    // then products without a web id.
    let mut order: Vec<usize> = (0..erp_rows).collect();
    rng.shuffle(&mut order);
    for (rank, &i) in order.iter().enumerate() {
        let product = &mut products[i];
        if rank < web_products {
            product.on_web = true;
            product.onsale_web = true;
            product.web_id = if rank < text_ids {
                WebId::Text(text_id(rank, skus[rank]))
            } else {
                WebId::Number(skus[rank])
            };
            if rank >= text_ids && rank < text_ids + premium {
                product.price_tenths = premium_price(rng);
                product.title = wine_title(rng, true);
            }
        } else if rank < web_products + unmatched {
            product.web_id = WebId::Number(skus[rank]);
            product.onsale_web = rank < web_products + unmatched_on_sale;
        }
    }
    // The most expensive wine of the shop is at 225 €, as in the real export.
    products[order[text_ids]].price_tenths = 2250;
    if let WebId::Text(text) = &products[order[2]].web_id
        && text.starts_with("bon-cadeau")
    {
        products[order[2]].price_tenths = 250;
        products[order[2]].title = "Bon cadeau 25 euros".into();
    }
    let mut stock_order: Vec<usize> = (0..erp_rows).collect();
    rng.shuffle(&mut stock_order);
    for (rank, &i) in stock_order.iter().enumerate() {
        let product = &mut products[i];
        product.instock = rank >= out_of_stock;
        product.stock_quantity = if product.instock { rng.range(1, 24) } else { 0 };
    }
    assign_sales(rng, &mut products, &order[..web_products], scale)?;
    // Three skus whose two rows disagree on total_sales (7 vs 87, 6 vs 96, 2 vs 62).
    for (k, (low, high)) in [(7, 87), (6, 96), (2, 62)].into_iter().enumerate() {
        let product = &mut products[order[text_ids + premium + k]];
        debug_assert_eq!(product.sales, high);
        product.stale_sales = Some((low, k != 1));
    }
    check_reference(&products, scale)?;
    let orphans = (0..2 * scale)
        .map(|i| {
            let mut orphan = new_product(rng, 0, 90_000 + i as u64, false);
            orphan.on_web = true;
            orphan.sales = rng.range(3, 12);
            orphan
        })
        .collect();
    Ok(MonthData {
        products,
        blank_web_rows: 83 * scale,
        orphans,
        shuffled: false,
    })
}

/// Text skus as the shop has them: variant skus (`13127-1`) and gift cards.
fn text_id(rank: usize, number: u64) -> String {
    match rank {
        0 => "13127-1".into(),
        1 => "14680-1".into(),
        2 => "bon-cadeau-25-euros".into(),
        r if r % 3 == 2 => format!("bon-cadeau-{}-euros", 25 + 5 * (r / 3)),
        _ => format!("{number}-1"),
    }
}

/// Sales for the web products, adjusted so the CA total is exactly the reference figure (times
/// `scale`): random sales first, then single bottles on random wines while the gap allows, then a
/// cheap filler wine, and the last few cents on the price of a wine that sold one bottle.
fn assign_sales(
    rng: &mut Rng,
    products: &mut [Product],
    web: &[usize],
    scale: usize,
) -> Result<(), SampleError> {
    let target = REFERENCE_CA_CENTS / 10 * scale as i64; // in tenths of a euro
    let fixed = [87, 96, 62];
    let premium = REFERENCE_PREMIUM * scale;
    let first_fixed = 3 * scale + premium;
    for (rank, &i) in web.iter().enumerate() {
        let product = &mut products[i];
        product.sales = if rank >= first_fixed && rank < first_fixed + 3 {
            fixed[rank - first_fixed]
        } else if product.price_tenths >= 950 {
            rng.range(0, 4)
        } else if rng.chance(25) {
            0
        } else {
            rng.range(1, 14)
        };
    }
    // The filler (a 5 € table wine) and the fixer (one bottle sold) are ordinary wines.
    let filler = web[first_fixed + 3];
    let fixer = web[first_fixed + 4];
    products[filler].price_tenths = 50;
    products[filler].title = "Vin de France rouge cuvée du patron".into();
    products[fixer].sales = 1;
    let ca = |products: &[Product]| -> i64 {
        web.iter()
            .map(|&i| products[i].price_tenths * products[i].sales)
            .sum()
    };
    let adjustable: Vec<usize> = web[first_fixed + 5..]
        .iter()
        .copied()
        .filter(|&i| products[i].price_tenths < 950)
        .collect();
    let mut gap = target - ca(products);
    while gap < 0 {
        let i = *rng.pick(&adjustable);
        if products[i].sales > 0 {
            products[i].sales -= 1;
            gap += products[i].price_tenths;
        }
    }
    while gap > 600 {
        let i = *rng.pick(&adjustable);
        if products[i].price_tenths <= gap {
            products[i].sales += 1;
            gap -= products[i].price_tenths;
        }
    }
    products[filler].sales += gap / 50;
    products[fixer].price_tenths += gap % 50;
    if ca(products) != target {
        return Err(SampleError::Reference {
            message: format!("CA {} instead of {target} tenths", ca(products)),
        });
    }
    Ok(())
}

/// z-scores of prices over the web products, with the sample standard deviation.
fn premium_count(products: &[Product]) -> usize {
    let prices: Vec<f64> = products
        .iter()
        .filter(|p| p.on_web)
        .map(|p| p.price_tenths as f64 / 10.0)
        .collect();
    let n = prices.len() as f64;
    let mean = prices.iter().sum::<f64>() / n;
    let sd = (prices.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    prices.iter().filter(|p| (**p - mean) / sd > 2.0).count()
}

fn check_reference(products: &[Product], scale: usize) -> Result<(), SampleError> {
    let premium = premium_count(products);
    if premium != REFERENCE_PREMIUM * scale {
        return Err(SampleError::Reference {
            message: format!(
                "{premium} premium wines instead of {}",
                REFERENCE_PREMIUM * scale
            ),
        });
    }
    Ok(())
}

/// The month before the reference: fewer sales so far, a few wines not yet listed, a few since
/// discontinued, other prices, and its web export came shuffled.
fn previous_month(reference: &MonthData, rng: &mut Rng, scale: usize) -> MonthData {
    let mut products: Vec<Product> = Vec::with_capacity(reference.products.len());
    let mut next_post_id = 60_000;
    for (i, product) in reference.products.iter().enumerate() {
        // Wines added to the catalogue in the reference month did not exist yet.
        if i % 137 == 5 && product.price_tenths < 950 {
            continue;
        }
        let mut earlier = product.clone();
        earlier.stale_sales = None;
        earlier.sales -= rng.range(0, 3).min(earlier.sales);
        if i % 41 == 7 && earlier.price_tenths < 950 {
            earlier.price_tenths = (earlier.price_tenths - rng.range(5, 30)).max(50);
        }
        products.push(earlier);
    }
    promote_and_demote(&mut products, rng, 1, 1);
    let base_id = products.iter().map(|p| p.product_id).max().unwrap_or(0) + 1;
    for k in 0..4 * scale {
        let mut gone = new_product(rng, base_id + k as u64, next_post_id, false);
        next_post_id += 2;
        gone.on_web = true;
        gone.onsale_web = true;
        gone.web_id = WebId::Number(8_000_000 + k as u64);
        gone.instock = false;
        gone.sales = rng.range(0, 30);
        products.push(gone);
    }
    products.sort_by_key(|p| p.product_id);
    MonthData {
        products,
        blank_web_rows: 83 * scale,
        orphans: reference.orphans.clone(),
        shuffled: true,
    }
}

/// The month after the reference: more sales, new wines (one of them premium), a few
/// discontinued, moved prices, two wines promoted to premium and one demoted, two negative prices
/// and stocks from a data-entry slip, and keys stored the "wrong" way round in Excel.
fn next_month(reference: &MonthData, rng: &mut Rng, scale: usize) -> MonthData {
    let mut products: Vec<Product> = Vec::with_capacity(reference.products.len() + 10);
    for (i, product) in reference.products.iter().enumerate() {
        if i % 163 == 11 && product.price_tenths < 950 {
            continue; // discontinued
        }
        let mut later = product.clone();
        later.stale_sales = None;
        if later.on_web && rng.chance(60) {
            later.sales += rng.range(1, 4);
        }
        if i % 29 == 3 && later.price_tenths < 950 && later.price_tenths > 100 {
            later.price_tenths += rng.range(-20, 25);
        }
        products.push(later);
    }
    promote_and_demote(&mut products, rng, 2, 1);
    let base_id = products.iter().map(|p| p.product_id).max().unwrap_or(0) + 1;
    let base_sku = 30_000 * scale as u64;
    for k in 0..8 * scale {
        let premium = k % 8 == 0;
        let mut added = new_product(rng, base_id + k as u64, 70_000 + 2 * k as u64, premium);
        added.on_web = k % 8 != 7;
        added.onsale_web = added.on_web;
        added.web_id = WebId::Number(base_sku + k as u64);
        added.instock = true;
        added.stock_quantity = rng.range(6, 24);
        added.sales = rng.range(0, 6);
        products.push(added);
    }
    // A data-entry slip: two negative prices and two stocks at -1, on wines sold on the web.
    let ordinary_web: Vec<usize> = (0..products.len())
        .filter(|&i| {
            products[i].on_web && products[i].price_tenths < 950 && products[i].price_tenths > 60
        })
        .collect();
    products[ordinary_web[10]].price_tenths = -80;
    products[ordinary_web[20]].price_tenths = -10;
    products[ordinary_web[30]].stock_quantity = -1;
    products[ordinary_web[40]].stock_quantity = -1;
    // Numbers stored as text in one file and as numbers in the other: they must still match.
    products[ordinary_web[50]].sku_as_text_in_web = true;
    products[ordinary_web[60]].id_as_text_in_liaison = true;
    MonthData {
        products,
        blank_web_rows: 83 * scale,
        orphans: reference.orphans.clone(),
        shuffled: false,
    }
}

/// Moves `promote` ordinary web wines into the premium price range and `demote` premium wines out.
fn promote_and_demote(products: &mut [Product], rng: &mut Rng, promote: usize, demote: usize) {
    let ordinary: Vec<usize> = (0..products.len())
        .filter(|&i| products[i].on_web && (300..950).contains(&products[i].price_tenths))
        .collect();
    let premium: Vec<usize> = (0..products.len())
        .filter(|&i| {
            products[i].on_web && products[i].price_tenths >= 950 && products[i].price_tenths < 2250
        })
        .collect();
    for k in 0..promote {
        let i = ordinary[(7 + 13 * k) % ordinary.len()];
        products[i].price_tenths = rng.range(1000, 1400);
    }
    for k in 0..demote {
        let i = premium[(3 + 5 * k) % premium.len()];
        products[i].price_tenths = rng.range(450, 600);
    }
}

fn new_workbook() -> Workbook {
    let mut workbook = Workbook::new();
    let properties = DocProperties::new()
        .set_creation_datetime(&ExcelDateTime::from_ymd(2026, 1, 1).expect("a valid date"))
        .set_author("ERP export");
    workbook.set_properties(&properties);
    workbook
}

fn write_header(sheet: &mut Worksheet, columns: &[&str]) -> Result<(), XlsxError> {
    for (col, name) in columns.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    Ok(())
}

fn erp_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
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

fn liaison_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
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

const WEB_COLUMNS: [&str; 28] = [
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
enum WebRow<'a> {
    Product(&'a Product),
    Image(&'a Product),
    Blank,
}

fn web_workbook(month: &MonthData) -> Result<Vec<u8>, XlsxError> {
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

fn excel_datetime(datetime: &NaiveDateTime) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_timestamp(datetime.and_utc().timestamp())
}

fn slug(title: &str) -> String {
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

fn write_web_row(
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
    fn the_reference_month_has_the_reference_shape() {
        let months = generate_months(1).unwrap();
        let reference = &months[1];
        assert_eq!(reference.products.len(), 825);
        let on_web = reference.products.iter().filter(|p| p.on_web).count();
        assert_eq!(on_web, 714);
        let on_sale = reference.products.iter().filter(|p| p.onsale_web).count();
        assert_eq!(on_sale, 717);
        let text_ids = reference
            .products
            .iter()
            .filter(|p| matches!(p.web_id, WebId::Text(_)))
            .count();
        assert_eq!(text_ids, 3);
        let no_id = reference
            .products
            .iter()
            .filter(|p| p.web_id == WebId::None)
            .count();
        assert_eq!(no_id, 91);
        let instock = reference.products.iter().filter(|p| p.instock).count();
        assert_eq!(instock, 638);
        assert_eq!(premium_count(&reference.products), 30);
        let max_price = reference.products.iter().map(|p| p.price_tenths).max();
        assert_eq!(max_price, Some(2250));
    }

    #[test]
    fn the_months_around_change_the_premium_list() {
        let months = generate_months(1).unwrap();
        assert_ne!(premium_count(&months[0].products), 0);
        assert_ne!(premium_count(&months[2].products), 30);
    }

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(
            slug("Château du Couvent Pomerol 2017"),
            "chateau-du-couvent-pomerol-2017"
        );
    }
}
