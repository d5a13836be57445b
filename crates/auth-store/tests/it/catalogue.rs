use auth_domain::{
    Bootstrap, BootstrapPlan, CatalogRepository, Catalogue, Group, Permission, Role,
};

use crate::support::{each_backend, T0};

pub fn extensions() -> Catalogue {
    Catalogue {
        permissions: vec![Permission {
            name: "data.read".into(),
            description: "Read datasets".into(),
        }],
        roles: vec![Role {
            name: "ANALYST".into(),
            description: String::new(),
            permissions: vec!["data.read".into(), "users.read".into()],
        }],
        groups: vec![Group {
            name: "urn:example:groups:ops".into(),
            description: "Operations".into(),
        }],
    }
}

fn plan(catalogue: Catalogue) -> BootstrapPlan {
    BootstrapPlan {
        catalogue,
        clients: vec![],
        service_accounts: vec![],
        actor: "seed".into(),
        at: T0,
    }
}

#[test]
fn load_is_the_builtin_catalogue_extended_by_what_is_stored() {
    each_backend(|store| {
        assert_eq!(store.load().unwrap(), Catalogue::builtin());

        store.apply_bootstrap(&plan(extensions())).unwrap();
        let mut expected = Catalogue::builtin();
        expected.extend(extensions()).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(
            loaded.role("ANALYST").unwrap().permissions,
            vec!["data.read", "users.read"]
        );

        // Entries are replaced by name, not added twice; earlier ones stay.
        let replacement = Catalogue {
            permissions: vec![Permission {
                name: "data.read".into(),
                description: "Read every dataset".into(),
            }],
            ..Catalogue::default()
        };
        store.apply_bootstrap(&plan(replacement.clone())).unwrap();
        expected.extend(replacement).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(
            loaded.permission("data.read").unwrap().description,
            "Read every dataset"
        );
        assert_eq!(loaded.permissions.len(), 5);
    });
}
