//! The images the lab's nodes run, built by `make images` (`tools/images/build.sh`): docker
//! archives in `$CAUSEWAY_IMAGES` (default `target/images` of this source tree) listed in
//! `images.txt`, one reference per line (`localhost/<name>:<tag>`). Nothing is pulled: `up`
//! imports every archive into every node's containerd.
//!
//! Flow: [`ImageSet::find`] reads the list → the node runtime imports [`ImageSet::archives`]
//! with `ctr` → workloads name [`ImageSet::reference`]s.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directory `make images` writes to: `$CAUSEWAY_IMAGES`, else `target/images` of this
/// source tree.
pub fn dir() -> PathBuf {
    std::env::var_os("CAUSEWAY_IMAGES").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/images")),
        PathBuf::from,
    )
}

/// The built images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Where the archives are.
    pub dir: PathBuf,
    /// Every reference, as listed.
    pub references: Vec<String>,
}

impl ImageSet {
    /// Reads `images.txt` in `dir`; fails with the fix (`make images`) when it is missing.
    pub fn find(dir: &Path) -> Result<Self> {
        let list = dir.join("images.txt");
        let text =
            std::fs::read_to_string(&list).map_err(|_| Error::NoImages { list: list.clone() })?;
        Ok(Self::parse(dir, &text))
    }

    /// The set listed by `text`.
    pub fn parse(dir: &Path, text: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            references: text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The reference of image `name` whose tag is `tag`, or the first of that name when `tag`
    /// is `None`.
    pub fn reference(&self, name: &str, tag: Option<&str>) -> Result<String> {
        self.references
            .iter()
            .find(|r| {
                let Some((repo, t)) = r.rsplit_once(':') else {
                    return false;
                };
                repo.rsplit('/').next() == Some(name) && tag.is_none_or(|want| want == t)
            })
            .cloned()
            .ok_or_else(|| Error::MissingImage {
                image: format!("{name}:{}", tag.unwrap_or("*")),
                list: self.dir.join("images.txt"),
            })
    }

    /// The tag of the causeway images (`<version>-<commit>`).
    pub fn causeway_tag(&self) -> Result<String> {
        let r = self.reference("causeway", None)?;
        Ok(r.rsplit_once(':')
            .map(|(_, t)| t.to_owned())
            .unwrap_or_default())
    }

    /// The archive of each listed image, `<dir>/<name>-<tag>.tar`, as the builder writes it.
    pub fn archives(&self) -> Vec<PathBuf> {
        self.references
            .iter()
            .filter_map(|r| {
                let (repo, tag) = r.rsplit_once(':')?;
                let name = repo.rsplit('/').next()?;
                Some(self.dir.join(format!("{name}-{tag}.tar")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_by_name_and_tag() {
        let set = ImageSet::parse(
            Path::new("/x"),
            "localhost/causeway-controller:0.1.0-abc\nlocalhost/causeway:0.1.0-abc\n\
             localhost/coredns:1.14.7\nlocalhost/coredns:1.8.0\n",
        );
        assert_eq!(
            set.reference("causeway", None).unwrap(),
            "localhost/causeway:0.1.0-abc"
        );
        assert_eq!(
            set.reference("coredns", Some("1.8.0")).unwrap(),
            "localhost/coredns:1.8.0"
        );
        assert_eq!(set.causeway_tag().unwrap(), "0.1.0-abc");
        assert_eq!(
            set.archives()[3],
            Path::new("/x/coredns-1.8.0.tar"),
            "one archive per reference"
        );
        assert!(matches!(
            set.reference("pause", None),
            Err(Error::MissingImage { .. })
        ));
    }
}
