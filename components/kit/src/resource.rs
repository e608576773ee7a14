//! The five operations of a resource as its components serve them: check
//! the token, parse what the entity's definition says, hand it to
//! [`crate::crud`]. A component is `kit::run(…, |ctx| resource::get(ctx,
//! &ENTITY))`; nothing about an entity is written twice.

use crate::crud::{self, Actor};
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use domain::entity::Entity;
use domain::schema;

pub fn list(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    crate::auth::authenticate(ctx)?;
    crud::list(ctx, entity)
}

pub fn get(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    crate::auth::authenticate(ctx)?;
    crud::get(ctx, entity)
}

pub fn create(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    let caller = crate::auth::authenticate(ctx)?;
    let columns = schema::parse(entity, &ctx.json_body()?, crate::now())?;
    crud::create(ctx, entity, Actor::Token(&caller), columns)
}

pub fn replace(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    let caller = crate::auth::authenticate(ctx)?;
    let columns = schema::parse(entity, &ctx.json_body()?, crate::now())?;
    crud::update(ctx, entity, &caller, columns)
}

pub fn delete(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    let caller = crate::auth::authenticate(ctx)?;
    crud::delete(ctx, entity, &caller)
}
