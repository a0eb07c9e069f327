//! Address-book use cases that own their transaction. Each write first locks the
//! customer's `users` row (`repo::lock_user`), so a customer's writes are decided one
//! after the other whichever instance serves them: the count checked against
//! [`MAX_ADDRESSES`] and the defaults cleared before one is set are what the next
//! writer sees.

use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use super::{
    error::AddressError,
    model::{AddressPatch, MAX_ADDRESSES, NewAddress},
    repo::{self, Address, Role},
};

/// Begins the write transaction of `user`'s book (a savepoint inside a caller's
/// transaction) and takes the customer's lock.
async fn begin_write<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    user: Uuid,
) -> Result<DatabaseTransaction, AddressError> {
    let txn = db.begin().await?;
    if !repo::lock_user(&txn, user).await? {
        return Err(AddressError::UnknownUser);
    }
    Ok(txn)
}

/// Adds an address to the book of `user` and commits. The first address becomes the
/// default shipping and billing address; one asked to be a default takes that role
/// from the previous holder. 409 past [`MAX_ADDRESSES`].
///
/// Runs in a transaction of its own, or in a savepoint of `db`'s when `db` is one
/// (the legacy registration stores the address it was given this way, in the
/// transaction that verifies the account).
pub async fn create<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    user: Uuid,
    address: NewAddress,
) -> Result<Address, AddressError> {
    let txn = begin_write(db, user).await?;
    let held = repo::count(&txn, user).await?;
    if held >= MAX_ADDRESSES {
        return Err(AddressError::BookFull);
    }
    let id = Uuid::now_v7();
    let shipping = address.is_default_shipping || held == 0;
    let billing = address.is_default_billing || held == 0;
    for (role, wanted) in [(Role::Shipping, shipping), (Role::Billing, billing)] {
        if wanted {
            repo::clear_default(&txn, user, role, id).await?;
        }
    }
    let created = repo::insert(&txn, user, id, &address.fields, shipping, billing)
        .await?
        .ok_or(AddressError::UnknownUser)?;
    txn.commit().await?;
    tracing::info!(address_id = %created.id, user_id = %user, "address added");
    Ok(created)
}

/// Changes address `id` of `user` and commits; the address as it is now.
pub async fn update<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    user: Uuid,
    id: Uuid,
    patch: AddressPatch,
) -> Result<Address, AddressError> {
    let txn = begin_write(db, user).await?;
    let current = repo::get(&txn, user, id)
        .await?
        .ok_or(AddressError::UnknownAddress)?;
    for (role, wanted, holds, field) in [
        (
            Role::Shipping,
            patch.is_default_shipping,
            current.is_default_shipping,
            "is_default_shipping",
        ),
        (
            Role::Billing,
            patch.is_default_billing,
            current.is_default_billing,
            "is_default_billing",
        ),
    ] {
        match (wanted, holds) {
            (Some(true), false) => {
                repo::clear_default(&txn, user, role, id).await?;
                repo::set_default(&txn, user, role, id).await?;
            }
            (Some(false), true) => {
                return Err(AddressError::invalid(
                    field,
                    "this is the default; make another address the default instead",
                ));
            }
            _ => {}
        }
    }
    let fields = patch.apply(current.fields());
    repo::update(&txn, user, id, &fields).await?;
    let updated = repo::get(&txn, user, id)
        .await?
        .ok_or(AddressError::UnknownAddress)?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes address `id` of `user` and commits. A default it held passes to the
/// oldest address left, so a book that holds any address has both defaults.
pub async fn delete<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    user: Uuid,
    id: Uuid,
) -> Result<(), AddressError> {
    let txn = begin_write(db, user).await?;
    let deleted = repo::delete(&txn, user, id)
        .await?
        .ok_or(AddressError::UnknownAddress)?;
    if deleted.is_default_shipping {
        repo::promote_oldest(&txn, user, Role::Shipping).await?;
    }
    if deleted.is_default_billing {
        repo::promote_oldest(&txn, user, Role::Billing).await?;
    }
    txn.commit().await?;
    tracing::info!(address_id = %id, user_id = %user, "address deleted");
    Ok(())
}

/// The addresses of `user`, oldest first.
pub async fn list(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Address>, AddressError> {
    Ok(repo::mine(db, user).await?)
}

/// Address `id` of `user`; 404 for anyone else's.
pub async fn get(db: &impl ConnectionTrait, user: Uuid, id: Uuid) -> Result<Address, AddressError> {
    repo::get(db, user, id)
        .await?
        .ok_or(AddressError::UnknownAddress)
}
