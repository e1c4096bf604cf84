//! Schedulers (`schedulers`) and the clock they run on (`system`).
//!
//! Owns: scheduler names, date ranges (stop after start), weekly windows
//! (start differs from stop; 24:00 only as a stop), and
//! `system.utc-offset-minutes` (a real time zone offset, UTC-12:00 to
//! UTC+14:00), which schedulers are evaluated in.

use super::Validator;
use super::names::FirstSeen;
use super::path::Path;
use crate::config::{DateRange, Scheduler, TimeWindow};

/// Valid `system.utc-offset-minutes`: UTC-12:00 to UTC+14:00.
const UTC_OFFSETS: std::ops::RangeInclusive<i16> = -720..=840;

/// `24:00` in minutes: valid as the end of a window only.
const END_OF_DAY: u16 = 24 * 60;

impl Validator<'_> {
    /// Checks `system`.
    pub(super) fn check_system(&mut self) {
        let offset = self.config.system.utc_offset_minutes;
        if !UTC_OFFSETS.contains(&offset) {
            self.error(
                &Path::root().field("system.utc-offset-minutes"),
                format!(
                    "utc-offset-minutes {offset} is outside -720..=840 (UTC-12:00 to UTC+14:00)"
                ),
            );
        }
    }

    /// Checks `schedulers`.
    pub(super) fn check_schedulers(&mut self) {
        let list = Path::root().field("schedulers");
        let mut seen = FirstSeen::default();
        for (i, scheduler) in self.config.schedulers.iter().enumerate() {
            let path = list.item(&scheduler.name, i);
            self.check_name(&mut seen, "scheduler", &scheduler.name, &path, i);
            self.check_scheduler(&path, scheduler);
        }
    }

    fn check_scheduler(&mut self, path: &Path<'_>, scheduler: &Scheduler) {
        let ranges = path.field("date-ranges");
        for (i, range) in scheduler.date_ranges.iter().enumerate() {
            self.check_date_range(&ranges.index(i), range);
        }
        let windows = path.field("windows");
        for (i, window) in scheduler.windows.iter().enumerate() {
            self.check_window(&windows.index(i), window);
        }
    }

    fn check_date_range(&mut self, path: &Path<'_>, range: &DateRange) {
        if range.stop <= range.start {
            self.error(
                &path.field("stop"),
                format!(
                    "stop {} is not after start {} (the range is empty)",
                    range.stop, range.start
                ),
            );
        }
    }

    fn check_window(&mut self, path: &Path<'_>, window: &TimeWindow) {
        if window.start.minutes == END_OF_DAY {
            self.error(
                &path.field("start"),
                "start 24:00 is only valid as a stop time (use 00:00)",
            );
        } else if window.start == window.stop {
            self.error(
                &path.field("stop"),
                format!(
                    "start and stop are both {} (the window is empty)",
                    window.stop
                ),
            );
        }
    }
}
