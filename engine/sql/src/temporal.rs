//! DATE, DATETIME and TIME values: parsing MySQL's literal forms, calendar
//! arithmetic (proleptic Gregorian, as MySQL's TO_DAYS), and text formatting.
//! Zero dates ('0000-00-00') and zero-in-date parts are NOT supported: they
//! parse as invalid (NULL with a warning), as in MySQL's NO_ZERO_DATE mode.
//!
//! Time zones are UTC offsets only (`+05:30`), plus `SYSTEM` and `UTC`:
//! the system zone is UTC, and without MySQL's time zone tables no other
//! named zone (nor daylight saving) is known.

use std::fmt;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// TIME's range is -838:59:59 .. 838:59:59.
pub const TIME_MICROS_MAX: i64 = (838 * 3600 + 59 * 60 + 59) * MICROS_PER_SECOND;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A valid date in 1000..=9999 style range 0..=9999; None otherwise.
    pub fn new(year: i64, month: u32, day: u32) -> Option<Date> {
        if !(0..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            year: u16::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }

    pub fn year(&self) -> u32 {
        u32::from(self.year)
    }
    pub fn month(&self) -> u32 {
        u32::from(self.month)
    }
    pub fn day(&self) -> u32 {
        u32::from(self.day)
    }

    /// The day number MySQL's TO_DAYS returns (0000-01-01 is day 1).
    pub fn day_number(&self) -> i64 {
        // Civil-to-days over a March-based year, shifted so that 0000-03-01 is day 60.
        let (year, month, day) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let shifted_year = if month <= 2 { year - 1 } else { year };
        let era = shifted_year.div_euclid(400);
        let year_of_era = shifted_year - era * 400;
        let month_index = (month + 9) % 12;
        let day_of_year = (153 * month_index + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era + 60
    }

    pub fn from_day_number(day_number: i64) -> Option<Date> {
        let z = day_number.checked_sub(60)?;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date::new(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
    }

    /// Adds months, clamping the day to the end of the target month (MySQL's rule).
    pub fn add_months(&self, months: i64) -> Option<Date> {
        let total = (i64::from(self.year) * 12 + i64::from(self.month) - 1).checked_add(months)?;
        let year = total.div_euclid(12);
        let month = u32::try_from(total.rem_euclid(12) + 1).ok()?;
        let day = self.day().min(days_in_month(year, month));
        Date::new(year, month, day)
    }

    /// YYYYMMDD as a number, how a DATE takes part in arithmetic.
    pub fn as_number(&self) -> i64 {
        i64::from(self.year) * 10_000 + i64::from(self.month) * 100 + i64::from(self.day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A DATETIME (or TIMESTAMP) with the fractional-second precision it prints with.
#[derive(Debug, Clone, Copy)]
pub struct DateTime {
    date: Date,
    micros_of_day: i64,
    fsp: u8,
}

impl PartialEq for DateTime {
    fn eq(&self, other: &Self) -> bool {
        (self.date, self.micros_of_day) == (other.date, other.micros_of_day)
    }
}
impl Eq for DateTime {}
impl PartialOrd for DateTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DateTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.date, self.micros_of_day).cmp(&(other.date, other.micros_of_day))
    }
}

impl DateTime {
    pub fn new(date: Date, micros_of_day: i64, fsp: u8) -> Option<DateTime> {
        if !(0..MICROS_PER_DAY).contains(&micros_of_day) || fsp > 6 {
            return None;
        }
        Some(DateTime {
            date,
            micros_of_day,
            fsp,
        })
    }

    pub fn from_date(date: Date) -> DateTime {
        DateTime {
            date,
            micros_of_day: 0,
            fsp: 0,
        }
    }

    pub fn date(&self) -> Date {
        self.date
    }
    pub fn micros_of_day(&self) -> i64 {
        self.micros_of_day
    }
    pub fn fsp(&self) -> u8 {
        self.fsp
    }

    pub fn with_fsp(&self, fsp: u8) -> DateTime {
        let fsp = fsp.min(6);
        // Round the fraction to fsp digits; a carry past midnight is clamped (rare, documented).
        let unit = 10i64.pow(6 - u32::from(fsp));
        let rounded = ((self.micros_of_day + unit / 2) / unit) * unit;
        DateTime {
            date: self.date,
            micros_of_day: rounded.min(MICROS_PER_DAY - 1),
            fsp,
        }
    }

    /// Microseconds since 0000-01-01 00:00:00.
    pub fn total_micros(&self) -> i64 {
        self.date.day_number() * MICROS_PER_DAY + self.micros_of_day
    }

    pub fn from_total_micros(total: i64, fsp: u8) -> Option<DateTime> {
        let date = Date::from_day_number(total.div_euclid(MICROS_PER_DAY))?;
        DateTime::new(date, total.rem_euclid(MICROS_PER_DAY), fsp)
    }

    /// YYYYMMDDhhmmss as a number (fraction dropped).
    pub fn as_number(&self) -> i64 {
        let seconds = self.micros_of_day / MICROS_PER_SECOND;
        self.date.as_number() * 1_000_000
            + (seconds / 3600) * 10_000
            + (seconds / 60 % 60) * 100
            + seconds % 60
    }
}

fn write_clock(f: &mut fmt::Formatter<'_>, micros: i64, fsp: u8) -> fmt::Result {
    let seconds = micros / MICROS_PER_SECOND;
    write!(
        f,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )?;
    if fsp > 0 {
        let fraction = format!("{:06}", micros % MICROS_PER_SECOND);
        write!(
            f,
            ".{}",
            fraction.get(..usize::from(fsp.min(6))).unwrap_or("")
        )?;
    }
    Ok(())
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.date)?;
        write_clock(f, self.micros_of_day, self.fsp)
    }
}

/// A TIME: signed duration within ±838:59:59.
#[derive(Debug, Clone, Copy)]
pub struct Time {
    micros: i64,
    fsp: u8,
}

impl PartialEq for Time {
    fn eq(&self, other: &Self) -> bool {
        self.micros == other.micros
    }
}
impl Eq for Time {}
impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.micros.cmp(&other.micros)
    }
}

impl Time {
    pub fn new(micros: i64, fsp: u8) -> Option<Time> {
        if micros.unsigned_abs() > TIME_MICROS_MAX.unsigned_abs() || fsp > 6 {
            return None;
        }
        Some(Time { micros, fsp })
    }
    pub fn micros(&self) -> i64 {
        self.micros
    }
    pub fn fsp(&self) -> u8 {
        self.fsp
    }
    /// hhmmss as a number, signed.
    pub fn as_number(&self) -> i64 {
        let seconds = self.micros.abs() / MICROS_PER_SECOND;
        let number = (seconds / 3600) * 10_000 + (seconds / 60 % 60) * 100 + seconds % 60;
        if self.micros < 0 {
            -number
        } else {
            number
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros < 0 {
            f.write_str("-")?;
        }
        write_clock(f, self.micros.abs(), self.fsp)
    }
}

/// Splits "2024-01-05 10:20:30.5" into numeric fields; a fraction is returned in micros
/// with the digit count. Accepts any punctuation as a delimiter, and the unbroken
/// forms YYYYMMDD and YYYYMMDDhhmmss.
/// A fraction of a second: microseconds and the number of digits written.
type Fraction = (i64, u8);

fn split_fields(text: &str) -> Option<(Vec<i64>, Option<Fraction>)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let digit =
            |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<i64>().ok());
        return match text.len() {
            8 => Some((vec![digit(0..4)?, digit(4..6)?, digit(6..8)?], None)),
            14 => Some((
                vec![
                    digit(0..4)?,
                    digit(4..6)?,
                    digit(6..8)?,
                    digit(8..10)?,
                    digit(10..12)?,
                    digit(12..14)?,
                ],
                None,
            )),
            _ => None,
        };
    }
    let mut fields = Vec::new();
    let mut fraction = None;
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() {
            current.push(ch);
            continue;
        }
        if current.is_empty() {
            return None;
        }
        fields.push(current.parse::<i64>().ok()?);
        current.clear();
        if ch == '.' && fields.len() == 6 {
            let digits: String = chars.by_ref().take_while(|c| c.is_ascii_digit()).collect();
            let kept: String = digits.chars().take(6).collect();
            let count = u8::try_from(kept.len()).ok()?;
            let micros = format!("{kept:0<6}").parse::<i64>().ok()?;
            fraction = Some((micros, count));
            break;
        }
        if !(ch.is_ascii_punctuation() || ch == ' ' || ch == 'T') || fields.len() >= 6 {
            return None;
        }
        // Runs of delimiters between date and time ("2024-01-05  10:00") are one delimiter.
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
    }
    if !current.is_empty() {
        fields.push(current.parse::<i64>().ok()?);
    }
    Some((fields, fraction))
}

fn two_digit_year(year: i64, digits_in_text: bool) -> i64 {
    if digits_in_text && year < 100 {
        if year < 70 {
            2000 + year
        } else {
            1900 + year
        }
    } else {
        year
    }
}

/// Parses a DATE or DATETIME literal; a DATE string yields midnight with `has_time` false.
pub fn parse_datetime(text: &str) -> Option<(DateTime, bool)> {
    let (fields, fraction) = split_fields(text)?;
    let year_is_short = text
        .trim()
        .find(|c: char| !c.is_ascii_digit())
        .is_some_and(|end| end <= 2);
    match fields.as_slice() {
        [year, month, day] => {
            let date = Date::new(
                two_digit_year(*year, year_is_short),
                u32::try_from(*month).ok()?,
                u32::try_from(*day).ok()?,
            )?;
            Some((DateTime::from_date(date), false))
        }
        [year, month, day, hour, minute, second] => {
            let date = Date::new(
                two_digit_year(*year, year_is_short),
                u32::try_from(*month).ok()?,
                u32::try_from(*day).ok()?,
            )?;
            if *hour > 23 || *minute > 59 || *second > 59 || *hour < 0 || *minute < 0 || *second < 0
            {
                return None;
            }
            let (micros, fsp) = fraction.unwrap_or((0, 0));
            let micros_of_day = ((hour * 60 + minute) * 60 + second) * MICROS_PER_SECOND + micros;
            Some((DateTime::new(date, micros_of_day, fsp)?, true))
        }
        _ => None,
    }
}

/// Parses a TIME literal: "[-][D ]hh:mm[:ss[.frac]]", or "hhmmss" digits.
/// None when malformed or outside ±838:59:59.
pub fn parse_time(text: &str) -> Option<Time> {
    let (micros, fsp) = parse_time_micros(text)?;
    Time::new(micros, fsp)
}

/// As `parse_time`, but a well-formed value past ±838:59:59 is clamped to the
/// limit (what CAST does, with a warning); the flag says whether it was.
pub fn parse_time_clamped(text: &str) -> Option<(Time, bool)> {
    let (micros, fsp) = parse_time_micros(text)?;
    let limit = TIME_MICROS_MAX - TIME_MICROS_MAX % MICROS_PER_SECOND;
    let clamped = micros.clamp(-limit, limit);
    Some((Time::new(clamped, fsp)?, clamped != micros))
}

/// Signed microseconds and digits of fraction of a TIME literal, unbounded but checked.
fn parse_time_micros(text: &str) -> Option<(i64, u8)> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (days, body) = match body.split_once(' ') {
        Some((days, rest)) if days.bytes().all(|b| b.is_ascii_digit()) => {
            (days.parse::<i64>().ok()?, rest)
        }
        _ => (0, body),
    };
    let (clock, fraction) = match body.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (body, None),
    };
    let parts: Vec<i64> = if clock.contains(':') {
        clock
            .split(':')
            .map(|p| p.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()?
    } else {
        let number = clock.parse::<i64>().ok()?;
        vec![number / 10_000, number / 100 % 100, number % 100]
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if minutes > 59 || seconds > 59 || hours < 0 || minutes < 0 || seconds < 0 {
        return None;
    }
    let (micros, fsp) = match fraction {
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let kept: String = digits.chars().take(6).collect();
            (
                format!("{kept:0<6}").parse::<i64>().ok()?,
                u8::try_from(kept.len()).ok()?,
            )
        }
        Some(_) => return None,
        None => (0, 0),
    };
    // Days and hours come from the client: every step is checked.
    let total = days
        .checked_mul(24)?
        .checked_add(hours)?
        .checked_mul(3600)?
        .checked_add(minutes * 60 + seconds)?
        .checked_mul(MICROS_PER_SECOND)?
        .checked_add(micros)?;
    Some((if negative { -total } else { total }, fsp))
}

/// Interprets a number as YYYYMMDD or YYYYMMDDhhmmss (MySQL's numeric date literals).
pub fn datetime_from_number(number: i64) -> Option<(DateTime, bool)> {
    if number <= 0 {
        return None;
    }
    if number < 100_000_000 {
        let date = Date::new(
            number / 10_000,
            u32::try_from(number / 100 % 100).ok()?,
            u32::try_from(number % 100).ok()?,
        )?;
        return Some((DateTime::from_date(date), false));
    }
    let (date_part, clock) = (number / 1_000_000, number % 1_000_000);
    let date = Date::new(
        date_part / 10_000,
        u32::try_from(date_part / 100 % 100).ok()?,
        u32::try_from(date_part % 100).ok()?,
    )?;
    let (hour, minute, second) = (clock / 10_000, clock / 100 % 100, clock % 100);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((
        DateTime::new(
            date,
            ((hour * 60 + minute) * 60 + second) * MICROS_PER_SECOND,
            0,
        )?,
        true,
    ))
}

/// A time zone as `time_zone` and CONVERT_TZ spell it, as its offset from
/// UTC in seconds: `SYSTEM` (UTC here), `UTC`, or `[+-]H:MM` from -13:59
/// to +14:00 (MySQL's range). None for anything else.
pub fn parse_time_zone(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("SYSTEM") || text.eq_ignore_ascii_case("UTC") {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, text.get(1..)?),
        b'-' => (-1, text.get(1..)?),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    let digits = |s: &str, most: usize| {
        (!s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (hours, minutes) = (digits(hours, 2)?, digits(minutes, 2)?);
    if minutes > 59 {
        return None;
    }
    let offset_s = sign * (hours * 3600 + minutes * 60);
    (-(13 * 3600 + 59 * 60)..=14 * 3600)
        .contains(&offset_s)
        .then_some(offset_s)
}

/// Seconds from 0000-01-01 to the Unix epoch (1970-01-01 00:00:00 UTC).
pub fn epoch_seconds() -> i64 {
    Date::new(1970, 1, 1).map_or(0, |d| d.day_number()) * 86_400
}

/// Whether `utc` lies in TIMESTAMP's range, 1970-01-01 00:00:01 to
/// 2038-01-19 03:14:07 UTC (CONVERT_TZ leaves values outside it alone).
pub fn in_timestamp_range(utc: &DateTime) -> bool {
    let seconds = utc.total_micros().div_euclid(MICROS_PER_SECOND) - epoch_seconds();
    (1..=i64::from(i32::MAX)).contains(&seconds)
}

/// `value` moved by `offset_s` seconds (from one zone's wall clock to
/// another's), keeping its precision; None past the calendar's range.
pub fn shift_seconds(value: &DateTime, offset_s: i64) -> Option<DateTime> {
    DateTime::from_total_micros(
        value
            .total_micros()
            .checked_add(offset_s.checked_mul(MICROS_PER_SECOND)?)?,
        value.fsp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Zones: SYSTEM and UTC are offset 0, offsets parse within MySQL's
    // -13:59..+14:00, anything else (named zones, junk) is refused.
    #[test]
    fn time_zones_parse() {
        assert_eq!(parse_time_zone("SYSTEM"), Some(0));
        assert_eq!(parse_time_zone("utc"), Some(0));
        assert_eq!(parse_time_zone("+00:00"), Some(0));
        assert_eq!(parse_time_zone("+05:30"), Some(19_800));
        assert_eq!(parse_time_zone("-8:00"), Some(-28_800));
        assert_eq!(parse_time_zone("+14:00"), Some(50_400));
        assert_eq!(parse_time_zone("-13:59"), Some(-50_340));
        for bad in [
            "+14:01",
            "-14:00",
            "+05:60",
            "Europe/Paris",
            "05:30",
            "+:30",
            "+1:2:3",
            "",
        ] {
            assert_eq!(parse_time_zone(bad), None, "{bad}");
        }
        let noon = Date::new(2024, 1, 1)
            .and_then(|d| DateTime::new(d, 12 * 3_600 * MICROS_PER_SECOND, 0))
            .expect("a datetime");
        let shifted = shift_seconds(&noon, -19_800).map(|d| d.to_string());
        assert_eq!(shifted.as_deref(), Some("2024-01-01 06:30:00"));
        assert!(in_timestamp_range(&noon));
        let epoch = Date::new(1970, 1, 1)
            .map(DateTime::from_date)
            .expect("epoch");
        assert!(!in_timestamp_range(&epoch));
    }

    // Day numbers agree with MySQL's TO_DAYS offsets and round-trip over a wide range.
    #[test]
    fn day_numbers_round_trip() {
        let date = |y, m, d| Date::new(y, m, d).unwrap_or_else(|| panic!("{y}-{m}-{d}"));
        // TO_DAYS('2000-01-01') is 730485 in MySQL; ours counts from 0000-01-01 as day 1.
        assert_eq!(date(2000, 1, 1).day_number(), 730_485);
        assert_eq!(
            date(2024, 3, 1).day_number() - date(2024, 2, 28).day_number(),
            2
        );
        for day_number in (366..3_652_424).step_by(997) {
            let round = Date::from_day_number(day_number).map(|d| d.day_number());
            assert_eq!(round, Some(day_number));
        }
    }

    // Adding months clamps the day to the month's end, as DATE_ADD does.
    #[test]
    fn add_months_clamps() {
        let jan31 = Date::new(2023, 1, 31);
        assert_eq!(
            jan31.and_then(|d| d.add_months(1)).map(|d| d.to_string()),
            Some("2023-02-28".into())
        );
        assert_eq!(
            jan31.and_then(|d| d.add_months(-13)).map(|d| d.to_string()),
            Some("2021-12-31".into())
        );
    }

    // The literal forms MySQL accepts parse; impossible dates do not.
    #[test]
    fn parse_literals() {
        let show = |t: &str| parse_datetime(t).map(|(d, _)| d.to_string());
        assert_eq!(show("2024-02-29"), Some("2024-02-29 00:00:00".into()));
        assert_eq!(show("20240229"), Some("2024-02-29 00:00:00".into()));
        assert_eq!(
            show("2024/1/5 7:08:09.25").as_deref(),
            Some("2024-01-05 07:08:09.25")
        );
        assert_eq!(show("2023-02-29"), None);
        assert_eq!(show("hello"), None);
        assert_eq!(
            parse_time("-1 02:03:04").map(|t| t.to_string()),
            Some("-26:03:04".into())
        );
        assert_eq!(parse_time("839:00:00"), None);
    }

    // Oversized and garbage input is refused without overflow or panic.
    #[test]
    fn hostile_literals_are_refused() {
        assert_eq!(parse_time("9223372036854775807:00:00"), None);
        assert_eq!(parse_time("-9223372036854775807 23:00:00"), None);
        assert_eq!(parse_time("1:2:3:4"), None);
        assert_eq!(parse_time("12:00:00.12x"), None);
        assert!(parse_datetime("99999999999999999999-01-01").is_none());
        assert!(parse_datetime(&"1-".repeat(10_000)).is_none());
        assert!(parse_datetime("2024-01-01 24:00:00").is_none());
        assert!(datetime_from_number(i64::MAX).is_none());
    }
}
