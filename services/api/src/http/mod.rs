//! HTTP resources, one module each, merged in [`crate::app`].

pub mod admin;
pub mod api_keys;
pub mod customers;
pub mod health;
pub mod links;
pub mod messages;
pub mod meta_webhooks;
pub mod phone_health;
pub mod phones;
pub mod redirect_secret;
pub mod signup;
pub mod webhooks;

use crate::error::ApiError;

pub use gangway_app::views::AuditEvent;
use gangway_projections::queries::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The `{"data": ...}` envelope every success response has.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            data,
            pagination: Pagination {
                page: page.page,
                limit: page.limit,
                total,
            },
        }
    }
}

/// `?page=&limit=`, kept as text so a bad value gets our 422 naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number (default 1).
    pub page: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
}

impl ListQuery {
    pub fn validate(&self) -> Result<Page, ApiError> {
        let number = |name: &str, raw: &Option<String>, default: u32, max: u32| -> Result<u32, ApiError> {
            match raw {
                None => Ok(default),
                Some(text) => match text.parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(ApiError::validation(
                        name,
                        format!("must be a whole number from 1 to {max}"),
                    )),
                },
            }
        };
        Ok(Page {
            page: number("page", &self.page, 1, 1_000_000)?,
            limit: number("limit", &self.limit, 20, 100)?,
        })
    }
}
