//! `windlass cluster-info`

use std::process::ExitCode;

use windlass::cluster::Cluster;

use super::{block_on, ClusterArgs};

/// Check the connection to the cluster.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (server, version, namespace) = block_on(async {
        let c = Cluster::connect(&args.cluster.options()).await?;
        let v = c.server_version().await?;
        Ok::<_, windlass::cluster::ClusterError>((
            c.server().to_string(),
            v,
            c.namespace().to_string(),
        ))
    })??;
    println!("Kubernetes API server: {server}");
    println!("Server version:        {version}");
    println!("Namespace:             {namespace}");
    Ok(ExitCode::SUCCESS)
}
