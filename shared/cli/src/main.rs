use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = helios_cli::Cli::parse();
    match helios_cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
