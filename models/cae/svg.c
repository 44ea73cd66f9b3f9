typedef int tg_placeholder_svg;
