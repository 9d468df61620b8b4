//! Amazon Bedrock's Converse API as a [`TextModel`]: one user message, the instructions as
//! the system prompt, a low temperature; the answer's text blocks joined.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
};
use helios_ports::{PortError, TextModel};

use crate::unavailable;

pub struct BedrockModel {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
}

impl BedrockModel {
    /// `model_id`: a model or inference profile id (`anthropic.claude-…`, `eu.anthropic.…`).
    pub fn new(config: &aws_config::SdkConfig, model_id: &str) -> BedrockModel {
        BedrockModel {
            client: aws_sdk_bedrockruntime::Client::new(config),
            model_id: model_id.to_string(),
        }
    }
}

#[async_trait]
impl TextModel for BedrockModel {
    fn name(&self) -> &str {
        &self.model_id
    }

    async fn complete(
        &self,
        system: &str,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<String, PortError> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.to_string()))
            .build()
            .map_err(|e| PortError::Invalid(e.to_string()))?;
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(system.to_string()))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(max_tokens).unwrap_or(i32::MAX))
                    .temperature(0.2)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| unavailable("Bedrock", e))?;
        let text: Vec<String> = out
            .output
            .and_then(|o| o.as_message().ok().cloned())
            .map(|m| {
                m.content
                    .into_iter()
                    .filter_map(|c| c.as_text().ok().cloned())
                    .collect()
            })
            .unwrap_or_default();
        let text = text.join("\n").trim().to_string();
        if text.is_empty() {
            return Err(PortError::unavailable(
                "Bedrock",
                format!("{} answered no text", self.model_id),
            ));
        }
        Ok(text)
    }
}
