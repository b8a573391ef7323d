//! The sample data itself: products with prices, stock, web ids and sales, and how they change
//! from one month to the next. Deterministic: a fixed seed and no clock.

use chrono::{NaiveDate, NaiveDateTime};

use super::{REFERENCE_CA_CENTS, REFERENCE_PREMIUM, SampleError};

/// `SplitMix64`: small, fast, and the same on every platform.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub(super) fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1) as u64)) as i64
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// How a product's web id is stored in LIAISON (and its sku in WEB).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum WebId {
    None,
    Number(u64),
    Text(String),
}

impl WebId {
    pub(super) fn text(&self) -> Option<String> {
        match self {
            WebId::None => None,
            WebId::Number(n) => Some(n.to_string()),
            WebId::Text(t) => Some(t.clone()),
        }
    }
}

#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    clippy::struct_field_names,
    reason = "a product's facts, named as the exports name them"
)]
pub(super) struct Product {
    pub(super) product_id: u64,
    pub(super) web_id: WebId,
    /// Listed in the web export this month.
    pub(super) on_web: bool,
    pub(super) onsale_web: bool,
    pub(super) price_tenths: i64,
    pub(super) stock_quantity: i64,
    pub(super) instock: bool,
    /// Lifetime sales (WooCommerce's `total_sales`), the larger of the product's two web rows.
    pub(super) sales: i64,
    /// A smaller `total_sales` carried by one of the two rows, and whether it is the image row.
    pub(super) stale_sales: Option<(i64, bool)>,
    /// Store the sku as text in WEB although it is a number (and the reverse in LIAISON).
    pub(super) sku_as_text_in_web: bool,
    pub(super) id_as_text_in_liaison: bool,
    pub(super) title: String,
    pub(super) post_id: u64,
    pub(super) posted: NaiveDateTime,
    pub(super) modified: NaiveDateTime,
    pub(super) excerpt: String,
}

/// One month's three exports, before they are written as workbooks.
#[derive(Debug, Clone)]
pub(super) struct MonthData {
    pub(super) products: Vec<Product>,
    pub(super) blank_web_rows: usize,
    /// Real web products with sales but no sku (dropped by `web_clean`).
    pub(super) orphans: Vec<Product>,
    pub(super) shuffled: bool,
}

/// Generates the three sample months at `scale`.
pub(super) fn generate_months(scale: u32) -> Result<Vec<MonthData>, SampleError> {
    let mut rng = Rng(0x5EED_CAFE ^ u64::from(scale));
    let reference = reference_month(&mut rng, scale as usize)?;
    let previous = previous_month(&reference, &mut rng, scale as usize);
    let next = next_month(&reference, &mut rng, scale as usize);
    Ok(vec![previous, reference, next])
}

pub(super) const DOMAINS: &[&str] = &[
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
pub(super) const APPELLATIONS: &[&str] = &[
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
pub(super) const GRAND_APPELLATIONS: &[&str] = &[
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
pub(super) const SENTENCES: &[&str] = &[
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

pub(super) fn wine_title(rng: &mut Rng, premium: bool) -> String {
    let domain = rng.pick(DOMAINS);
    let appellation = if premium {
        rng.pick(GRAND_APPELLATIONS)
    } else {
        rng.pick(APPELLATIONS)
    };
    format!("{domain} {appellation} {}", rng.range(2012, 2023))
}

pub(super) fn excerpt(rng: &mut Rng) -> String {
    let count = rng.range(3, 6) as usize;
    (0..count)
        .map(|_| *rng.pick(SENTENCES))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn datetime(rng: &mut Rng, from_year: i32, to_year: i32) -> NaiveDateTime {
    let date = NaiveDate::from_ymd_opt(
        rng.range(i64::from(from_year), i64::from(to_year)) as i32,
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
pub(super) fn distinct_ids(rng: &mut Rng, count: usize, low: u64, high: u64) -> Vec<u64> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < count {
        ids.insert(low + rng.next() % (high - low));
    }
    ids.into_iter().collect()
}

pub(super) fn ordinary_price(rng: &mut Rng) -> i64 {
    // Mostly 8.50 € to 37 €, some up to 60 €, in tenths of a euro: with the premium wines the
    // shop's mean price comes out near the real 32.4 €.
    if rng.chance(80) {
        rng.range(85, 370)
    } else {
        rng.range(370, 600)
    }
}

pub(super) fn premium_price(rng: &mut Rng) -> i64 {
    rng.range(950, 2000)
}

pub(super) fn new_product(rng: &mut Rng, product_id: u64, post_id: u64, premium: bool) -> Product {
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
///
/// Longer than most functions on purpose: it reads as DATA.md does, one quirk of the real
/// files after another, and each step draws from the same random stream, so splitting it
/// would only pass that stream around.
pub(super) fn reference_month(rng: &mut Rng, scale: usize) -> Result<MonthData, SampleError> {
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
pub(super) fn text_id(rank: usize, number: u64) -> String {
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
pub(super) fn assign_sales(
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
pub(super) fn premium_count(products: &[Product]) -> usize {
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

pub(super) fn check_reference(products: &[Product], scale: usize) -> Result<(), SampleError> {
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
pub(super) fn previous_month(reference: &MonthData, rng: &mut Rng, scale: usize) -> MonthData {
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
pub(super) fn next_month(reference: &MonthData, rng: &mut Rng, scale: usize) -> MonthData {
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
pub(super) fn promote_and_demote(
    products: &mut [Product],
    rng: &mut Rng,
    promote: usize,
    demote: usize,
) {
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
}
