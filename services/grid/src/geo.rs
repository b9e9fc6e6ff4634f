//! Points, polygons and the GCJ-02 datum of Chinese phone maps.
//!
//! GCJ-02 is WGS-84 shifted by a published nonlinear function; converting
//! back has no closed form, so the shift is inverted by fixed-point
//! iteration (a few steps bring it under a millimetre).

use std::f64::consts::PI;

/// WGS-84 degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub lng: f64,
    pub lat: f64,
}

impl Point {
    /// A point with finite, in-range coordinates.
    pub fn new(lng: f64, lat: f64) -> Option<Self> {
        (lng.is_finite()
            && lat.is_finite()
            && (-180.0..=180.0).contains(&lng)
            && (-90.0..=90.0).contains(&lat))
        .then_some(Self { lng, lat })
    }

    /// Great-circle distance in metres.
    pub fn distance_m(self, other: Point) -> f64 {
        const EARTH_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lng - self.lng).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_M * a.sqrt().asin()
    }
}

const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;

fn outside_china(p: Point) -> bool {
    !(72.004..=137.8347).contains(&p.lng) || !(0.8293..=55.8271).contains(&p.lat)
}

fn shift_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn shift_lng(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 → GCJ-02.
pub fn wgs84_to_gcj02(p: Point) -> Point {
    if outside_china(p) {
        return p;
    }
    let (x, y) = (p.lng - 105.0, p.lat - 35.0);
    let rad = p.lat / 180.0 * PI;
    let magic = 1.0 - EE * rad.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let dlat = shift_lat(x, y) * 180.0 / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let dlng = shift_lng(x, y) * 180.0 / (A / sqrt_magic * rad.cos() * PI);
    Point {
        lng: p.lng + dlng,
        lat: p.lat + dlat,
    }
}

/// GCJ-02 → WGS-84, by iterating the forward shift.
pub fn gcj02_to_wgs84(p: Point) -> Point {
    if outside_china(p) {
        return p;
    }
    let mut guess = p;
    for _ in 0..10 {
        let shifted = wgs84_to_gcj02(guess);
        let (dlng, dlat) = (shifted.lng - p.lng, shifted.lat - p.lat);
        guess = Point {
            lng: guess.lng - dlng,
            lat: guess.lat - dlat,
        };
        if dlng.abs() < 1e-9 && dlat.abs() < 1e-9 {
            break;
        }
    }
    guess
}

/// Whether `p` lies inside `polygon` (ray casting; a ring of 3 or more).
pub fn contains(polygon: &[Point], p: Point) -> bool {
    let mut inside = false;
    let mut j = polygon.len().wrapping_sub(1);
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a.lat > p.lat) != (b.lat > p.lat)
            && p.lng < (b.lng - a.lng) * (p.lat - a.lat) / (b.lat - a.lat) + a.lng
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj02_round_trips_within_a_millimetre_and_shifts_hundreds_of_metres() {
        // 齐河县 county seat.
        let wgs = Point::new(116.7625, 36.7953).expect("point");
        let gcj = wgs84_to_gcj02(wgs);
        let shift = wgs.distance_m(gcj);
        assert!((100.0..1000.0).contains(&shift), "shift {shift} m");
        let back = gcj02_to_wgs84(gcj);
        assert!(wgs.distance_m(back) < 0.001);
        // Outside China nothing moves.
        let paris = Point::new(2.35, 48.85).expect("point");
        assert_eq!(wgs84_to_gcj02(paris), paris);
    }

    #[test]
    fn points_in_polygons_and_bad_coordinates() {
        let square = [
            Point {
                lng: 116.0,
                lat: 36.0,
            },
            Point {
                lng: 117.0,
                lat: 36.0,
            },
            Point {
                lng: 117.0,
                lat: 37.0,
            },
            Point {
                lng: 116.0,
                lat: 37.0,
            },
        ];
        assert!(contains(
            &square,
            Point {
                lng: 116.5,
                lat: 36.5
            }
        ));
        assert!(!contains(
            &square,
            Point {
                lng: 117.5,
                lat: 36.5
            }
        ));
        assert!(Point::new(181.0, 0.0).is_none());
        assert!(Point::new(f64::NAN, 0.0).is_none());
        let d = Point {
            lng: 116.0,
            lat: 36.0,
        }
        .distance_m(Point {
            lng: 116.0,
            lat: 37.0,
        });
        assert!((111_000.0..111_400.0).contains(&d), "{d}");
    }
}
