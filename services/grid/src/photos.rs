//! Photos of cases: checked by their content (JPEG or PNG, whatever the
//! caller says), decoded within limits, re-encoded as JPEG — which leaves
//! EXIF and its GPS position behind — with a thumbnail, and stored under the
//! SHA-256 of what is stored (content-addressed: the same photo twice is
//! stored once). Cases hold the hex digest.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// Largest upload accepted.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Largest image side accepted.
const MAX_SIDE: u32 = 12_000;
/// Longest side of a thumbnail.
const THUMBNAIL_SIDE: u32 = 320;

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("the photo is larger than 10 MiB")]
    TooLarge,
    #[error("not a JPEG or PNG image")]
    NotAnImage,
    #[error("the image cannot be read: {0}")]
    Unreadable(String),
    #[error("the photo store failed: {0}")]
    Store(#[from] std::io::Error),
}

/// A stored photo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Hex SHA-256 of the stored JPEG.
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// Photos on disk under a root directory.
#[derive(Clone, Debug)]
pub struct PhotoStore {
    root: PathBuf,
}

/// A stored photo's id: 64 lower-case hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl PhotoStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, id: &str, suffix: &str) -> PathBuf {
        self.root.join(&id[..2]).join(format!("{id}{suffix}.jpg"))
    }

    /// The stored photo's path, if there is one with this id.
    pub fn find(&self, id: &str) -> Option<PathBuf> {
        if !valid_id(id) {
            return None;
        }
        let path = self.path(id, "");
        path.exists().then_some(path)
    }

    pub fn thumbnail(&self, id: &str) -> Option<PathBuf> {
        self.find(id).map(|_| self.path(id, "_thumb"))
    }

    /// Checks, cleans and stores an upload.
    pub async fn put(&self, upload: Vec<u8>) -> Result<Stored, PhotoError> {
        if upload.len() > MAX_BYTES {
            return Err(PhotoError::TooLarge);
        }
        let (clean, thumb, width, height) = tokio::task::spawn_blocking(move || clean(&upload))
            .await
            .map_err(|e| PhotoError::Unreadable(e.to_string()))??;
        let id: String = Sha256::digest(&clean)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = self.path(&id, "");
        if !path.exists() {
            let dir = path.parent().unwrap_or(&self.root).to_owned();
            tokio::fs::create_dir_all(&dir).await?;
            write_atomically(&self.path(&id, "_thumb"), &thumb).await?;
            write_atomically(&path, &clean).await?;
        }
        Ok(Stored {
            id,
            width,
            height,
            bytes: clean.len() as u64,
        })
    }
}

/// Writes to a temporary file and renames it, so a crash leaves no half
/// photo under its id.
async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Decodes by content and re-encodes as JPEG (no metadata), with a
/// thumbnail.
fn clean(upload: &[u8]) -> Result<(Vec<u8>, Vec<u8>, u32, u32), PhotoError> {
    let mut reader = ImageReader::new(Cursor::new(upload))
        .with_guessed_format()
        .map_err(|e| PhotoError::Unreadable(e.to_string()))?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(PhotoError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| PhotoError::Unreadable(e.to_string()))?
        .into_rgb8();
    let (width, height) = image.dimensions();
    let encode = |img: &image::RgbImage| -> Result<Vec<u8>, PhotoError> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(img)
            .map_err(|e| PhotoError::Unreadable(e.to_string()))?;
        Ok(out)
    };
    let thumb = image::DynamicImage::ImageRgb8(image.clone())
        .thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        .into_rgb8();
    Ok((encode(&image)?, encode(&thumb)?, width, height))
}
