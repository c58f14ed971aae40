//! The services' identities in Kubernetes: each Deployment runs as its own
//! ServiceAccount, mounts the Secret cert-manager writes for a Certificate
//! naming exactly its SPIFFE ID in this namespace (and its DNS name), from
//! a namespaced Issuer — so no other namespace can mint it — and reads its
//! namespace from the pod, as `platform::tls::spiffe` checks its peers by.
//! The local overlay, without cert-manager, generates the same Secrets.

use serde_json::{Value, json};

use crate::manifests::{BASE, LOCAL, base, container, find, kustomization, of_kind};

/// The namespace the base's SPIFFE IDs name: the local overlay's.
const NAMESPACE: &str = "rust-shop";
const CERT_MANAGER: &str = "cert-manager.io/v1";

/// The Secret a Deployment mounts its certificates from.
fn tls_secret(deployment: &Value) -> &str {
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let [secret] = volumes
        .iter()
        .filter_map(|v| v["secret"]["secretName"].as_str())
        .filter(|name| name.ends_with("-tls"))
        .collect::<Vec<_>>()[..]
    else {
        panic!(
            "{}: mounts one <service>-tls Secret",
            deployment["metadata"]["name"]
        );
    };
    secret
}

#[test]
fn each_deployment_runs_as_its_own_account_with_a_certificate_for_its_spiffe_id() {
    let docs = base();
    let deployments: Vec<_> = of_kind(&docs, "Deployment").collect();
    assert_eq!(deployments.len(), 4);
    for d in deployments {
        let service = d.name();
        let pod = &d.v["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], service, "{}", d.id());
        let account = find(&docs, "ServiceAccount", service)
            .unwrap_or_else(|| panic!("{BASE}: no ServiceAccount {service}"));
        assert_eq!(
            account.v["automountServiceAccountToken"],
            false,
            "{}",
            account.id()
        );

        let secret = tls_secret(&d.v);
        let certificate = of_kind(&docs, "Certificate")
            .find(|c| c.v["spec"]["secretName"] == secret)
            .unwrap_or_else(|| panic!("{BASE}: no Certificate writes {secret}"));
        assert_eq!(certificate.v["apiVersion"], CERT_MANAGER);
        let spec = &certificate.v["spec"];
        let id = format!("spiffe://cluster.local/ns/{NAMESPACE}/sa/{service}");
        assert_eq!(spec["uris"], json!([id]), "{}", certificate.id());
        assert_eq!(spec["dnsNames"], json!([service]), "{}", certificate.id());
        assert_eq!(spec["usages"], json!(["server auth", "client auth"]));
        assert_eq!(spec["privateKey"]["rotationPolicy"], "Always");

        // Signed by this namespace's CA: an Issuer, never a ClusterIssuer.
        let issuer = &spec["issuerRef"];
        assert_eq!(issuer["kind"], "Issuer", "{}", certificate.id());
        let ca = find(&docs, "Issuer", issuer["name"].as_str().unwrap()).unwrap();
        let ca_secret = &ca.v["spec"]["ca"]["secretName"];
        let root = of_kind(&docs, "Certificate")
            .find(|c| &c.v["spec"]["secretName"] == ca_secret)
            .expect("the CA's Certificate");
        assert_eq!(root.v["spec"]["isCA"], true);
        assert_eq!(root.v["spec"]["issuerRef"]["kind"], "Issuer");

        let namespace = container(d)["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "SPIFFE_NAMESPACE")
            .unwrap_or_else(|| panic!("{}: sets SPIFFE_NAMESPACE", d.id()));
        assert_eq!(
            namespace["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.namespace",
            "{}: believes peers of the namespace it runs in",
            d.id()
        );
    }
}

#[test]
fn the_local_overlay_generates_what_cert_manager_would_write() {
    let local = kustomization(LOCAL);
    assert_eq!(local["namespace"], NAMESPACE, "the IDs in the base name it");
    let removed = local["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target"]["group"] == "cert-manager.io")
        .expect("a patch removing the cert-manager objects");
    let patch =
        crate::manifests::documents(&format!("{LOCAL}/{}", removed["path"].as_str().unwrap()));
    assert_eq!(patch[0].v["$patch"], "delete");

    let generated = local["secretGenerator"].as_array().unwrap();
    for d in of_kind(&base(), "Deployment") {
        let secret = tls_secret(&d.v);
        let generator = generated
            .iter()
            .find(|g| g["name"] == secret)
            .unwrap_or_else(|| panic!("{LOCAL} generates no {secret}"));
        let files: Vec<&str> = generator["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let service = d.name();
        assert_eq!(
            files,
            [
                "ca.crt=certs/ca.pem".to_owned(),
                format!("tls.crt=certs/{service}.pem"),
                format!("tls.key=certs/{service}.key"),
            ],
            "{secret}"
        );
    }
}
