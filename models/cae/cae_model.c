typedef int tg_placeholder_cae_model;
