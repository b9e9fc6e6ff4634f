//! Photos of cases: checked by their content (JPEG or PNG, whatever the
//! caller says), decoded within limits, re-encoded as JPEG — which leaves
//! EXIF and its GPS position behind — with a thumbnail, and stored under the
//! SHA-256 of what is stored (content-addressed: the same photo twice is
//! stored once). Cases hold the hex digest.
//!
//! Where they are stored is an object store: a directory in the embedded
//! default, an S3-compatible bucket in the distributed mode, where every
//! grid process must see the same photos.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
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
    Store(#[from] object_store::Error),
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

/// An S3-compatible bucket (`[grid.s3]`), for the distributed mode.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// e.g. `http://127.0.0.1:9000`; empty for AWS itself.
    #[serde(default)]
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Keys are written under this prefix, e.g. `photos`.
    #[serde(default)]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// Where the photos are.
#[derive(Clone, Debug)]
pub struct PhotoStore {
    objects: Arc<dyn ObjectStore>,
    prefix: String,
}

/// A stored photo's id: 64 lower-case hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The photo itself or its thumbnail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Photo,
    Thumbnail,
}

impl PhotoStore {
    /// Photos in a directory (created if missing), as `ab/<id>.jpg`.
    pub fn on_disk(root: impl Into<PathBuf>) -> Result<Self, PhotoError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| {
            PhotoError::Store(object_store::Error::Generic {
                store: "disk",
                source: Box::new(e),
            })
        })?;
        // Writes go to a temporary file that is renamed into place, so a
        // crash leaves no half photo under its id.
        let objects = object_store::local::LocalFileSystem::new_with_prefix(root)?
            .with_automatic_cleanup(true);
        Ok(Self {
            objects: Arc::new(objects),
            prefix: String::new(),
        })
    }

    /// Photos in an S3-compatible bucket. Requests give up after a few
    /// seconds, so an upload while the store is away answers `Unavailable`
    /// instead of hanging the rider's phone.
    pub fn s3(settings: &S3Settings) -> Result<Self, PhotoError> {
        use object_store::aws::AmazonS3Builder;
        use object_store::{BackoffConfig, ClientOptions, RetryConfig};
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose_secret())
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(15)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
            });
        if !settings.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.endpoint)
                .with_allow_http(settings.endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        Ok(Self {
            objects: Arc::new(builder.build()?),
            prefix: settings.prefix.trim_matches('/').to_owned(),
        })
    }

    fn key(&self, id: &str, variant: Variant) -> Key {
        let suffix = match variant {
            Variant::Photo => "",
            Variant::Thumbnail => "_thumb",
        };
        let name = format!("{}/{id}{suffix}.jpg", &id[..2]);
        if self.prefix.is_empty() {
            Key::from(name)
        } else {
            Key::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Whether a photo with this id is stored.
    pub async fn exists(&self, id: &str) -> Result<bool, PhotoError> {
        if !valid_id(id) {
            return Ok(false);
        }
        match self.objects.head(&self.key(id, Variant::Photo)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A stored photo or its thumbnail (JPEG), if there is one.
    pub async fn get(&self, id: &str, variant: Variant) -> Result<Option<Bytes>, PhotoError> {
        if !valid_id(id) {
            return Ok(None);
        }
        match self.objects.get(&self.key(id, variant)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
        let bytes = clean.len() as u64;
        if !self.exists(&id).await? {
            // The thumbnail first: a photo that exists has its thumbnail.
            self.objects
                .put(&self.key(&id, Variant::Thumbnail), PutPayload::from(thumb))
                .await?;
            self.objects
                .put(&self.key(&id, Variant::Photo), PutPayload::from(clean))
                .await?;
        }
        Ok(Stored {
            id,
            width,
            height,
            bytes,
        })
    }
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
    // A photo already small enough is its own thumbnail (resizing would
    // scale it up).
    let thumb = if width.max(height) <= THUMBNAIL_SIDE {
        image.clone()
    } else {
        image::DynamicImage::ImageRgb8(image.clone())
            .thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
            .into_rgb8()
    };
    Ok((encode(&image)?, encode(&thumb)?, width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([x as u8, 0, 0]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("png");
        out
    }

    #[test]
    fn a_large_png_becomes_a_jpeg_with_a_thumbnail_of_320_at_most() {
        let (photo, thumb, w, h) = clean(&png(800, 600)).expect("clean");
        assert_eq!((w, h), (800, 600));
        assert_eq!(&photo[..2], [0xFF, 0xD8], "JPEG");
        let t = image::load_from_memory(&thumb).expect("thumbnail");
        assert_eq!((t.width(), t.height()), (320, 240));
    }

    #[test]
    fn other_content_is_refused_whatever_it_is_called() {
        assert!(matches!(
            clean(b"GIF89a...."),
            Err(PhotoError::NotAnImage | PhotoError::Unreadable(_))
        ));
        let mut truncated = png(40, 40);
        truncated.truncate(60);
        assert!(matches!(clean(&truncated), Err(PhotoError::Unreadable(_))));
    }

    #[tokio::test]
    async fn the_same_photo_is_stored_once_on_disk() {
        let dir = tempfile::tempdir().expect("dir");
        let store = PhotoStore::on_disk(dir.path()).expect("store");
        let a = store.put(png(50, 50)).await.expect("put");
        let b = store.put(png(50, 50)).await.expect("put again");
        assert_eq!(a.id, b.id);
        assert!(store.exists(&a.id).await.expect("exists"));
        assert!(!store.exists("not-an-id").await.expect("checked"));
        let files = walk(dir.path());
        assert_eq!(files, 2, "the photo and its thumbnail, no temporary files");
    }

    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                if e.file_type().expect("type").is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
}
