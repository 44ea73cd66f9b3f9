typedef int tg_placeholder_render;
