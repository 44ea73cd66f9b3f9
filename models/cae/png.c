typedef int tg_placeholder_png;
