//! `winebuild schedule`: the monthly run as a crontab line or a systemd timer, printed or
//! installed.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::ScheduleArgs;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::schedule::Schedule;

pub(crate) fn run(
    project: &Project,
    args: &ScheduleArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let schedule = Schedule::new(project)?;
    match (args.systemd, args.install) {
        (false, false) => printer.result_line(&schedule.cron_line()),
        (true, false) => {
            let unit = schedule.unit_name();
            printer.result_line(&format!("# {unit}.service\n{}", schedule.service()));
            printer.result_line(&format!("# {unit}.timer\n{}", schedule.timer()));
        }
        (false, true) => {
            schedule.install_cron()?;
            printer.log_line(&format!(
                "installed in your crontab: {}",
                schedule.cron_line()
            ));
        }
        (true, true) => {
            for path in schedule.install_systemd()? {
                printer.info(&format!("wrote {}", path.display()));
            }
            printer.log_line(&format!(
                "enable it with: systemctl --user daemon-reload && systemctl --user enable --now {}.timer",
                schedule.unit_name()
            ));
        }
    }
    Ok(ExitStatus::Success)
}
