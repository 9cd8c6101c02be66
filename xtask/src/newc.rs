//! A gzip-ready writer of the "newc" cpio format, the one the kernel
//! unpacks as an initramfs (Documentation/driver-api/early-userspace/
//! buffer-format.rst). Written here rather than shelling out to cpio so the
//! image is byte-for-byte reproducible (fixed inode numbers, mtime 0,
//! owner root) and can hold device nodes without root on the build host.
//!
//! Entry: "070701", then 13 fields of 8 upper-case hex digits (ino, mode,
//! uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
//! rdevminor, namesize including NUL, check = 0), the name and NUL padded
//! to 4 bytes, the data padded to 4 bytes. The archive ends with the entry
//! "TRAILER!!!".

use std::io::Write;

pub const MODE_DIR: u32 = 0o040_000;
pub const MODE_FILE: u32 = 0o100_000;
pub const MODE_CHAR: u32 = 0o020_000;

pub struct Newc<W: Write> {
    out: W,
    next_ino: u32,
    written_bytes: u64,
}

impl<W: Write> Newc<W> {
    pub fn new(out: W) -> Self {
        Newc {
            out,
            next_ino: 1,
            written_bytes: 0,
        }
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> std::io::Result<()> {
        let name = name.trim_start_matches('/');
        let nlink = if mode & 0o170_000 == MODE_DIR { 2 } else { 1 };
        let ino = self.next_ino;
        self.next_ino += 1;
        let data_bytes = u32::try_from(data.len())
            .map_err(|_| std::io::Error::other(format!("{name}: larger than 4 GiB")))?;
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{data_bytes:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0, 0, 0, 0, 0, rdev.0, rdev.1, name.len() + 1, 0
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written_bytes += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let padding = (4 - (self.written_bytes % 4) as usize) % 4;
        self.write(&[0u8; 3][..padding])
    }

    pub fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, MODE_DIR | 0o755, (0, 0), &[])
    }

    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, MODE_FILE | permissions, (0, 0), data)
    }

    pub fn char_device(
        &mut self,
        name: &str,
        permissions: u32,
        major: u32,
        minor: u32,
    ) -> std::io::Result<()> {
        self.entry(name, MODE_CHAR | permissions, (major, minor), &[])
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One file and the trailer, checked against bytes laid out by hand.
    #[test]
    fn file_entry_matches_fixed_bytes() {
        let mut archive = Newc::new(Vec::new());
        archive.file("/init", 0o755, b"hi").expect("write");
        let bytes = archive.finish().expect("finish");
        let fields = [1u32, 0o100_755, 0, 0, 1, 0, 2, 0, 0, 0, 0, 5, 0];
        let mut expected = b"070701".to_vec();
        for field in fields {
            expected.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        assert_eq!(expected.len(), 110);
        expected.extend_from_slice(b"init\0\0"); // 110 + 5 bytes of name, padded to 116
        expected.extend_from_slice(b"hi\0\0");
        assert_eq!(&bytes[..expected.len()], &expected[..]);
        // The trailer starts on a 4-byte boundary and the archive ends on one.
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
