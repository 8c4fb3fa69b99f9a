//! The kickstart an ISO carries, checked before anything is written: it must parse without
//! errors (warnings are shown and allowed, as everywhere in Kickstand), and its image must agree
//! with what the ISO embeds.

use kickstand_grammar::Kickstart;

use super::container_url;

/// Checks the kickstart `text` (named `name` in messages) for an ISO that embeds an image or not.
/// `Ok` carries the warnings; `Err` every error, each naming file, line and column where the
/// parser gives them.
pub fn check(name: &str, text: &str, embeds_image: bool) -> Result<Vec<String>, Vec<String>> {
    let parsed = crate::kickstart::parse(name, text);
    let mut warnings: Vec<String> = parsed.warnings().map(ToString::to_string).collect();
    let mut errors: Vec<String> = parsed.errors().map(ToString::to_string).collect();
    match image_rule(&parsed.kickstart, embeds_image) {
        Ok(Some(w)) => warnings.push(format!("{name}: warning: {w}")),
        Ok(None) => {}
        Err(e) => errors.push(format!("{name}: error: {e}")),
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

/// Where the kickstart takes its image from, against what the ISO embeds.
fn image_rule(ks: &Kickstart, embeds_image: bool) -> Result<Option<String>, String> {
    let url = container_url();
    let wanted = format!("ostreecontainer --url={url} --transport=oci");
    let (named, from_iso) = match (&ks.ostreecontainer, &ks.bootc) {
        (Some(oc), _) => {
            let from_iso =
                oc.url.trim_end_matches('/') == url || oc.url.starts_with(&format!("{url}:"));
            if from_iso && oc.transport.as_deref() != Some("oci") {
                return Err(format!(
                    "ostreecontainer --url={} is the ISO's OCI layout: it needs --transport=oci",
                    oc.url
                ));
            }
            (oc.url.clone(), from_iso)
        }
        (None, Some(b)) => {
            let from_iso = b.source_imgref.trim_end_matches('/') == format!("oci:{url}")
                || b.source_imgref.starts_with(&format!("oci:{url}:"));
            (b.source_imgref.clone(), from_iso)
        }
        (None, None) if embeds_image => {
            return Err(format!(
                "the kickstart names no image; to install the image embedded in the ISO add `{wanted}`"
            ));
        }
        (None, None) => return Ok(None),
    };
    match (from_iso, embeds_image) {
        (true, false) => Err(format!(
            "the kickstart installs {named} from the ISO, but the ISO embeds no image (give --embed-image)"
        )),
        (false, true) => Ok(Some(format!(
            "the kickstart installs {named}, not the image embedded in the ISO, which will not be \
             used (to install it: `{wanted}`)"
        ))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    const BASE: &str = "zerombr\nclearpart --all --initlabel\nautopart\nrootpw --lock\nreboot\n";

    fn ks(image: &str) -> String {
        format!("{BASE}{image}\n")
    }

    #[test]
    fn the_embedded_image_must_be_the_one_installed() {
        let iso = "ostreecontainer --url=/run/install/repo/container --transport=oci";
        assert_eq!(check("ks.cfg", &ks(iso), true), Ok(vec![]));
        let err = check("ks.cfg", &ks(iso), false).unwrap_err();
        assert!(
            err[0].contains("embeds no image (give --embed-image)"),
            "{err:?}"
        );
        let err = check(
            "ks.cfg",
            &ks("ostreecontainer --url=/run/install/repo/container"),
            true,
        )
        .unwrap_err();
        assert!(err[0].contains("needs --transport=oci"), "{err:?}");
        let err = check("ks.cfg", BASE, true).unwrap_err();
        assert!(err[0].contains("names no image"), "{err:?}");
        let warn = check("ks.cfg", &ks("ostreecontainer --url=quay.io/a/b:1"), true).unwrap();
        assert!(warn[0].contains("will not be used"), "{warn:?}");
        assert_eq!(
            check(
                "ks.cfg",
                &ks("bootc --source-imgref=oci:/run/install/repo/container"),
                true
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn grammar_errors_name_the_line() {
        let err = check("my.ks", "rebot\n", false).unwrap_err();
        assert!(
            err[0].starts_with("my.ks:1:1: error: Unknown command: rebot"),
            "{err:?}"
        );
    }
}
